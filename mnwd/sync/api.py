"""The SyncKit HTTP API under ``/sync/v1`` (bearer tokens; see docs/sync.md)."""

from __future__ import annotations

from aiohttp import web

from mnwd.sync import blob_routes, change_routes, key_routes

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Each part of the API registers its own routes here."""
    change_routes.setup(app)
    key_routes.setup(app)
    blob_routes.setup(app)
