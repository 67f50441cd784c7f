"""A creator's storage in all (``users.storage_used_bytes``): file versions and media files count against the
tier's ``storage_bytes`` (`mnwd.store.limits`).

`add_storage` runs in the transaction that inserts the row holding the bytes, so the row and the account
commit together; the conditional UPDATE is atomic, so two uploads racing for the last megabytes cannot both
pass. `remove_storage` runs in the transaction that deletes the row (never below zero).
"""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.errors import PayloadTooLarge
from mnwd.store.queries import storage as queries

__all__ = ["add_storage", "remove_storage", "storage_used"]


async def add_storage(conn: asyncpg.Connection, user_id: uuid.UUID, size: int, *, limit: int, tier: str) -> int:
    """Counts ``size`` more bytes for ``user_id``; 413 when the total would pass ``limit``."""
    total = await queries.reserve_storage(conn, user_id, size, limit)
    if total is None:
        raise PayloadTooLarge(
            f"This upload would take your storage past the {limit:,} bytes of the {tier} tier. "
            "Delete old versions or media, or move to a larger tier.",
            limit=limit,
        )
    return total


async def remove_storage(conn: asyncpg.Connection, user_id: uuid.UUID, size: int) -> None:
    await queries.release_storage(conn, user_id, size)


async def storage_used(conn: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> int:
    return await queries.get_storage_used(conn, user_id)
