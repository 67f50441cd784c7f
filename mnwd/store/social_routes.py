"""Media library, follows and the feed, blog posts, collections and reports."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
