from __future__ import annotations

from datetime import datetime

import asyncpg


async def upsert_hit(
    conn: asyncpg.Pool | asyncpg.Connection, bucket: str, window_start: datetime, previous_start: datetime
) -> tuple[int, int]:
    """Count one hit in the current window; (hits of the previous window, hits of this one with this hit).

    Its transaction commits without waiting for the WAL flush: ``synchronous_commit`` is turned off by
    ``set_config(…, true)`` for that transaction alone, so the pooled connection keeps its own setting."""
    row = await conn.fetchrow(
        """
        WITH quick AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
        hit AS (
            INSERT INTO rate_limits (bucket, window_start) SELECT $1, $2 FROM quick
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
            RETURNING hits
        )
        SELECT coalesce((SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $3), 0) AS previous,
               (SELECT hits FROM hit) AS current
        """,
        bucket,
        window_start,
        previous_start,
    )
    assert row is not None
    return row["previous"], row["current"]


async def get_hits(
    conn: asyncpg.Pool | asyncpg.Connection, bucket: str, window_start: datetime, previous_start: datetime
) -> tuple[int, int]:
    """(hits of the previous window, hits of the current one)."""
    row = await conn.fetchrow(
        """
        SELECT coalesce(sum(hits) FILTER (WHERE window_start = $3), 0) AS previous,
               coalesce(sum(hits) FILTER (WHERE window_start = $2), 0) AS current
        FROM rate_limits WHERE bucket = $1 AND window_start IN ($2, $3)
        """,
        bucket,
        window_start,
        previous_start,
    )
    assert row is not None
    return int(row["previous"]), int(row["current"])


async def delete_windows_before(conn: asyncpg.Pool | asyncpg.Connection, cutoff: datetime) -> int:
    status: str = await conn.execute("DELETE FROM rate_limits WHERE window_start < $1", cutoff)
    return int(status.split()[-1])


async def upsert_hits(
    conn: asyncpg.Pool | asyncpg.Connection, windows: list[tuple[str, datetime, datetime]]
) -> dict[str, tuple[int, int]]:
    """`upsert_hit` for several distinct buckets in one statement (one commit): bucket -> (previous, current).
    Rows are written in bucket order, so two callers hitting the same buckets never wait on each other crosswise."""
    ordered = sorted(windows)
    rows = await conn.fetch(
        """
        WITH quick AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
        input AS (
            SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
                AS t(bucket, window_start, previous_start)
        ), hit AS (
            INSERT INTO rate_limits (bucket, window_start) SELECT bucket, window_start FROM input, quick ORDER BY bucket
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
            RETURNING bucket, hits
        )
        SELECT i.bucket,
               coalesce((SELECT r.hits FROM rate_limits r
                         WHERE r.bucket = i.bucket AND r.window_start = i.previous_start), 0) AS previous,
               h.hits AS current
        FROM input i JOIN hit h ON h.bucket = i.bucket
        """,
        [w[0] for w in ordered],
        [w[1] for w in ordered],
        [w[2] for w in ordered],
    )
    return {row["bucket"]: (row["previous"], row["current"]) for row in rows}
