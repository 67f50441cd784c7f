"""Every page and endpoint of the accounts domain."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.accounts import pages_links, pages_passkeys, pages_settings, pages_signin, pages_tokens, pages_twofactor

__all__ = ["TEMPLATES", "setup_routes"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    pages_signin.setup(app)
    pages_settings.setup(app)
    pages_links.setup(app)
    pages_twofactor.setup(app)
    pages_passkeys.setup(app)
    pages_tokens.setup(app)
