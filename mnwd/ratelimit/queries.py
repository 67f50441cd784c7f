from __future__ import annotations

from datetime import datetime

import asyncpg


async def upsert_hit(conn: asyncpg.Pool | asyncpg.Connection, bucket: str, window_start: datetime) -> int:
    hits: int = await conn.fetchval(
        """
        INSERT INTO rate_limits (bucket, window_start) VALUES ($1, $2)
        ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
        RETURNING hits
        """,
        bucket,
        window_start,
    )
    return hits


async def get_hits(conn: asyncpg.Pool | asyncpg.Connection, bucket: str, window_start: datetime) -> int:
    hits: int | None = await conn.fetchval(
        "SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2", bucket, window_start
    )
    return hits or 0


async def delete_windows_before(conn: asyncpg.Pool | asyncpg.Connection, cutoff: datetime) -> int:
    status: str = await conn.execute("DELETE FROM rate_limits WHERE window_start < $1", cutoff)
    return int(status.split()[-1])
