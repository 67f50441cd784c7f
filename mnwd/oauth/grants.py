"""What other domains may do with a grant (one authorization of an app by a user)."""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.oauth import queries

__all__ = ["bind_device"]


async def bind_device(conn: asyncpg.Pool | asyncpg.Connection, grant_id: uuid.UUID, device_id: uuid.UUID) -> bool:
    """Tie the grant's tokens to a sync device, so revoking the device refuses them at once."""
    return await queries.bind_grant_device(conn, grant_id, device_id)
