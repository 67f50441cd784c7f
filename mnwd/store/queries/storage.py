"""SQL of a creator's storage account (``users.storage_used_bytes``) for store uploads."""

from __future__ import annotations

import uuid

import asyncpg


async def reserve_storage(conn: asyncpg.Connection, user_id: uuid.UUID, size: int, limit: int) -> int | None:
    """Adds ``size`` when the total stays within ``limit``; the new total, or None when it would not."""
    value: int | None = await conn.fetchval(
        "UPDATE users SET storage_used_bytes = storage_used_bytes + $2 "
        "WHERE id = $1 AND storage_used_bytes + $2 <= $3 RETURNING storage_used_bytes",
        user_id,
        size,
        limit,
    )
    return value


async def release_storage(conn: asyncpg.Connection, user_id: uuid.UUID, size: int) -> None:
    await conn.execute(
        "UPDATE users SET storage_used_bytes = GREATEST(storage_used_bytes - $2, 0) WHERE id = $1", user_id, size
    )


async def get_storage_used(conn: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> int:
    value: int = await conn.fetchval("SELECT storage_used_bytes FROM users WHERE id = $1", user_id)
    return value
