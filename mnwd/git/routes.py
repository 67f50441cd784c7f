"""SSH keys (pages and ``/api/v1/user/keys``) and read-only smart-HTTP clone under ``/source/``."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Adds the key pages, the key API and smart-HTTP clone."""
