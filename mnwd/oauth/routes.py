"""Every page and endpoint of the OAuth domain."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.oauth import api, endpoints, pages

__all__ = ["TEMPLATES", "setup_routes"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    endpoints.setup(app)
    api.setup(app)
    pages.setup(app)
