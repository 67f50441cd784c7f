"""Who is calling the sync API: the bearer token's (app, user), with the ``sync`` scope."""

from __future__ import annotations

from aiohttp import web

from mnwd.oauth import Bearer, require_bearer

__all__ = ["sync_caller"]


async def sync_caller(request: web.Request) -> Bearer:
    """Every sync query is scoped by the (app_id, user_id) of this bearer, never by ids from the request."""
    return await require_bearer(request, scope="sync")
