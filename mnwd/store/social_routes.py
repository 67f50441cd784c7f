"""Media library, follows and the feed, blog posts, collections and reports: each area's handlers live in
its own module (`media_routes`, ...); this one adds them all."""

from __future__ import annotations

from aiohttp import web

from mnwd.store import media_routes


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
    media_routes.setup(app)
