"""A fast lane: a few connections kept apart from the pool for one hot statement at a time (a sync push, the
page of a sync pull).

`Lane.fetchrow(query, *args)` runs one statement on a connection of the lane, in autocommit, and gives the
connection back. It does what the asyncpg pool does for ``pool.fetchrow`` minus what a single statement does
not need: no proxy object, no shielded release task, no per-release reset (a statement outside a
transaction leaves nothing behind). That is about 80 µs of CPU less per call on the machines we measure
(`bench sync_push`), a sixth of a single-mutation push.

Connections are opened on demand, up to ``size``, with the pool's settings (`mnwd.db.pool.init_connection`,
statement and lock timeouts); callers beyond ``size`` wait in order. A connection that fails in any way other
than an error PostgreSQL reported for the statement (a broken socket, a cancelled call that may have left a
query running, a closed connection) is terminated and replaced by the next caller, never reused. A call
cancelled mid-statement (a stopping daemon) first has the server cancel the statement (``pg_cancel_backend``
from a connection of its own; closing the socket alone would leave the backend to run the statement to its
end and commit it once, say, the lock it waited for came free), then its connection is terminated; `close`
waits for those cancellations. A failure to connect is raised to the caller as it would be from the pool (an
outage answers 503).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from mnwd.db import pool as db_pool

__all__ = ["Lane"]

log = logging.getLogger(__name__)

# How long a cancelled call's statement may take to be cancelled by the server before its socket is closed.
CANCEL_SECONDS = 5.0


class Lane:
    def __init__(self, url: str, *, size: int, server_settings: Mapping[str, str]) -> None:
        self._url = url
        self._size = size
        self._settings = dict(server_settings)
        self._idle: list[asyncpg.Connection] = []
        self._open = 0  # connections open or being opened
        self._waiting: collections.deque[asyncio.Future[asyncpg.Connection | None]] = collections.deque()
        self._closed = False
        self._cancelling: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return self._open

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                break
            self._drop(conn)  # its server went away while it was idle
        else:
            conn = await self._take()
        try:
            row: asyncpg.Record | None = await conn.fetchrow(query, *args)
        except asyncpg.PostgresError:
            self._give_back(conn)  # the server refused the statement: the connection is as good as before
            raise
        except asyncio.CancelledError:
            self._forget(conn)
            cancelling = asyncio.get_running_loop().create_task(self._cancel_then_terminate(conn))
            self._cancelling.add(cancelling)
            cancelling.add_done_callback(self._cancelling.discard)
            raise
        except BaseException:
            self._drop(conn)
            raise
        self._give_back(conn)
        return row

    async def _take(self) -> asyncpg.Connection:
        if self._closed:
            raise asyncpg.InterfaceError("the lane is closed")
        if self._open < self._size:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self._hand_on(None)  # a waiter may connect in our place
                raise
        waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._give_back(waiter.result())  # handed to us as we were cancelled: pass it on
            elif waiter.done() and not waiter.cancelled():
                self._hand_on(None)
            raise
        return conn if conn is not None else await self._take()

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._url, server_settings=self._settings)
        await db_pool.init_connection(conn)  # looked up now: tests wrap it to count statements
        return conn

    def _give_back(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            self._drop(conn)
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _drop(self, conn: asyncpg.Connection) -> None:
        conn.terminate()
        self._forget(conn)

    def _forget(self, conn: asyncpg.Connection) -> None:
        """``conn`` no longer counts: its place goes to the first waiter."""
        self._open -= 1
        self._hand_on(None)

    async def _cancel_then_terminate(self, conn: asyncpg.Connection) -> None:
        try:
            async with asyncio.timeout(CANCEL_SECONDS):
                other = await asyncpg.connect(self._url, server_settings=self._settings)
                try:
                    await other.execute("SELECT pg_cancel_backend($1)", conn.get_server_pid())
                finally:
                    await other.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("could not cancel a statement of a cancelled call", exc_info=True)
        finally:
            conn.terminate()

    def _hand_on(self, conn: None) -> None:
        """A slot came free without a connection: the first waiter opens one."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return

    async def close(self) -> None:
        if self._cancelling:
            await asyncio.gather(*self._cancelling, return_exceptions=True)
        self._closed = True
        idle, self._idle = self._idle, []
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the lane is closed"))
        self._waiting.clear()
        await asyncio.gather(*(conn.close(timeout=5) for conn in idle), return_exceptions=True)
        self._open -= len(idle)
