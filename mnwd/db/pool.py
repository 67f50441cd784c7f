"""The asyncpg pool: JSON and JSONB decoded with orjson."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

__all__ = ["Pool", "create_pool", "init_connection"]

Pool = asyncpg.Pool


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset (``RESET ALL; UNLISTEN *; pg_advisory_unlock_all()``), which
    costs a round trip on every release. mnwd sets no session state on pool connections: advisory locks are
    transaction-scoped, LISTEN has its own connection; asyncpg still rolls back a transaction left open."""


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    statement_timeout: float = 30.0,
    lock_timeout: float = 10.0,
) -> asyncpg.Pool:
    """A pool whose statements PostgreSQL cancels after ``statement_timeout`` seconds, or after waiting
    ``lock_timeout`` seconds for a lock (0: no limit): a blocked statement cannot keep its connection for ever."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=_keep_session,
        server_settings={
            "application_name": "mnwd",
            "statement_timeout": _ms(statement_timeout),
            "lock_timeout": _ms(lock_timeout),
        },
    )
    assert pool is not None
    return pool


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def pool_stats(pool: asyncpg.Pool) -> tuple[int, int, int]:
    return pool.get_size(), pool.get_idle_size(), pool.get_max_size()
