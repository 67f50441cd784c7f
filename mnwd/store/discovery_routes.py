"""Home, search (page and /api/v1/search), tags, labels, sitemap.xml and robots.txt."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
