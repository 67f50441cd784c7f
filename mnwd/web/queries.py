"""SQL of the transient per-browser state (``web_sessions``). Functions take a pool or connection first."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def get_web_session(conn: Conn, session_id: str) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await conn.fetchval(
        "SELECT data FROM web_sessions WHERE id = $1 AND expiry_date > now()", session_id
    )
    return data


async def upsert_web_session(conn: Conn, session_id: str, data: dict[str, Any], lifetime_seconds: int) -> None:
    await conn.execute(
        """
        INSERT INTO web_sessions (id, data, expiry_date) VALUES ($1, $2, now() + make_interval(secs => $3))
        ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expiry_date = EXCLUDED.expiry_date
        """,
        session_id,
        data,
        float(lifetime_seconds),
    )


async def delete_web_session(conn: Conn, session_id: str) -> None:
    await conn.execute("DELETE FROM web_sessions WHERE id = $1", session_id)


async def pop_web_session_key(conn: Conn, session_id: str, key: str) -> Any:
    """Remove ``key`` from the state and return its old value, atomically: two requests cannot both get it."""
    row = await conn.fetchrow(
        """
        WITH old AS (SELECT data -> $2 AS value FROM web_sessions WHERE id = $1 AND expiry_date > now() FOR UPDATE)
        UPDATE web_sessions w SET data = w.data - $2
        FROM old WHERE w.id = $1 AND old.value IS NOT NULL
        RETURNING old.value
        """,
        session_id,
        key,
    )
    return None if row is None else row["value"]


async def update_web_session_counter(conn: Conn, session_id: str, key: str, field: str) -> int | None:
    """Add one to the number ``data[key][field]`` (missing counts as 0) in one statement, so concurrent
    requests each count; the new value, or None when there is no such state or ``data[key]`` is no object."""
    count: int | None = await conn.fetchval(
        """
        UPDATE web_sessions
        SET data = jsonb_set(data, ARRAY[$2::text, $3::text],
                             to_jsonb(coalesce((data -> $2 ->> $3)::int, 0) + 1))
        WHERE id = $1 AND expiry_date > now() AND jsonb_typeof(data -> $2) = 'object'
        RETURNING (data -> $2 ->> $3)::int
        """,
        session_id,
        key,
        field,
    )
    return count


async def delete_expired_states(conn: Conn) -> int:
    status: str = await conn.execute("DELETE FROM web_sessions WHERE expiry_date < now()")
    return int(status.split()[-1])
