"""SQL of the blob store's bookkeeping: the per-hash advisory lock (`mnwd.blobs.references`)."""

from __future__ import annotations

import asyncpg


async def lock_hash(conn: asyncpg.Connection, lock_key: int, *, exclusive: bool) -> None:
    """Until the transaction ends: shared while recording a row that names the bytes, exclusive while deleting."""
    if exclusive:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
    else:
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock_key)
