"""The asyncpg pool: JSON and JSONB decoded with orjson; `wait_for_database`, the first contact at start-up."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import orjson

from mnwd.errors import MnwdError

__all__ = ["DatabaseUnreachable", "Pool", "create_pool", "init_connection", "session_settings", "wait_for_database"]

log = logging.getLogger(__name__)

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
        server_settings=session_settings(statement_timeout=statement_timeout, lock_timeout=lock_timeout),
    )
    assert pool is not None
    return pool


def session_settings(*, statement_timeout: float, lock_timeout: float) -> dict[str, str]:
    """The settings of every connection that runs mnwd's statements (the pool's and `mnwd.db.lane`'s)."""
    return {"application_name": "mnwd", "statement_timeout": _ms(statement_timeout), "lock_timeout": _ms(lock_timeout)}


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def pool_stats(pool: asyncpg.Pool) -> tuple[int, int, int]:
    return pool.get_size(), pool.get_idle_size(), pool.get_max_size()


class DatabaseUnreachable(MnwdError):
    """The database could not be reached at start-up; the message is one line for the operator."""


def _where(url: str) -> str:
    """host:port/database of a URL, without its credentials (a Unix socket shows as its directory)."""
    parts = urlsplit(url)
    query = dict(p.partition("=")[::2] for p in parts.query.split("&") if p)
    host = parts.hostname or unquote(query.get("host", "")) or "localhost"
    port = parts.port or query.get("port") or 5432
    return f"{host}:{port}/{unquote(parts.path.lstrip('/')) or '(default database)'}"


def _reason(exc: BaseException) -> tuple[str, bool]:
    """What failed, in a few words, and whether trying again may help (the server may still be starting)."""
    if isinstance(exc, socket.gaierror):
        return "unknown host", True
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "the database does not exist", False
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return f"authentication failed ({exc})", False
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return "the server is starting up or shutting down", True
    if isinstance(exc, TimeoutError):
        return "timed out", True
    if isinstance(exc, OSError):
        return exc.strerror or str(exc), True
    return str(exc) or type(exc).__name__, False


async def wait_for_database(url: str, *, name: str, wait: float) -> None:
    """Connect once to ``url``, trying again for up to ``wait`` seconds while the failure may pass (refused,
    unknown host, starting up); raise `DatabaseUnreachable` naming the variable ``name`` and what failed."""
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=max(1.0, min(10.0, wait)))
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            reason, transient = _reason(exc)
            left = deadline - time.monotonic()
            if not transient or left <= 0:
                tried = f" (tried for {wait:g} s)" if transient and wait > 0 else ""
                raise DatabaseUnreachable(f"{name}: cannot connect to {_where(url)}: {reason}{tried}") from None
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 2.0)
        else:
            await conn.close()
            return
