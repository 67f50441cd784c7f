"""SSH keys (pages and ``/api/v1/user/keys``) and read-only smart-HTTP clone."""

from __future__ import annotations

from aiohttp import web

from mnwd.git import http_routes, key_routes, pages_keys


def setup(app: web.Application) -> None:
    """Adds the key pages, the key API and smart-HTTP clone."""
    pages_keys.setup(app)
    key_routes.setup(app)
    http_routes.setup(app)
