"""Reading path parameters."""

from __future__ import annotations

import uuid

from aiohttp import web

from mnwd.errors import NotFound

__all__ = ["uuid_param"]


def uuid_param(request: web.Request, name: str, not_found: str) -> uuid.UUID:
    """The path parameter ``name`` as a UUID; anything else is answered like an id that does not exist."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(not_found) from None
