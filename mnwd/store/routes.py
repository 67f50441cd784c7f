"""Creator profiles, projects, items, versions, bundles: public pages, the dashboard and /api/v1/ for creators."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
