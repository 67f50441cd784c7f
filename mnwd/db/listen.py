"""The daemon's one PostgreSQL ``LISTEN`` connection, shared by every domain, with reconnection.

A domain subscribes a `Subscriber` to a channel (`ListenBus.subscribe`) before `start`; each
notification's payload is handed to it on the event loop. When the connection is lost every subscriber
hears ``listening(False)`` at once (what it holds may now miss a change: caches forget, waiters look at
the database again), and ``listening(True)`` when it is back; nothing sent while it was down is replayed,
so a subscriber must treat reconnection as "anything may have changed".

NOTIFY is delivered on commit only, to every daemon listening, in commit order per sending session.

A connection can also stall without closing (a frozen backend, a half-open TCP connection): nothing is
delivered and nothing says so. So every ``probe_interval`` seconds the bus sends itself a ``NOTIFY`` with a
unique payload on a private channel (`PROBE_CHANNEL`), through the LISTEN connection itself, and expects it
back within ``probe_timeout``. If it does not come back the connection counts as lost: subscribers hear
``listening(False)``, the connection is terminated, and the bus reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

import asyncpg

__all__ = ["ListenBus", "Subscriber"]

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10.0
PROBE_CHANNEL = "mnwd_listen_probe"
# Server-side TCP keepalives: the server notices a vanished daemon (ignored on a Unix socket).
KEEPALIVE_SETTINGS = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}


class Subscriber(Protocol):
    def on_notify(self, payload: str) -> None: ...

    def listening(self, up: bool) -> None:
        """The connection came up (True) or was lost (False)."""


class ListenBus:
    def __init__(self, url: str, *, probe_interval: float = 5.0, probe_timeout: float = 5.0) -> None:
        """``probe_interval`` 0 turns the probe off."""
        self._url = url
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._conn: asyncpg.Connection | None = None
        self._started = False
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._probe_waiting: tuple[str, asyncio.Future[None]] | None = None
        self.probes_failed = 0

    @property
    def channels(self) -> list[str]:
        return sorted(self._subscribers)

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        if self._started:
            raise RuntimeError("subscribe before the LISTEN connection starts")
        self._subscribers.setdefault(channel, []).append(subscriber)

    def deliver_here(self, channel: str, payload: str = "") -> None:
        """Hand ``payload`` to this daemon's subscribers now, as if it had been notified (the others hear
        the real notification at commit)."""
        for subscriber in self._subscribers.get(channel, ()):
            subscriber.on_notify(payload)

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL process of the current LISTEN connection (None while there is none)."""
        return None if self._conn is None else self._conn.get_server_pid()

    async def start(self) -> None:
        self._started = True
        self._closing = False
        conn = await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": "mnwd-listen", **KEEPALIVE_SETTINGS},
        )
        try:
            for channel in self._subscribers:
                await conn.add_listener(channel, self._on_notify)
            if self._probe_interval > 0:
                await conn.add_listener(PROBE_CHANNEL, self._on_probe)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_lost)
        self._conn = conn
        if self._probe_interval > 0:
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop(conn))
        self._tell_all(True)

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnect, self._probe):
            if task is not None:
                task.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    def _tell_all(self, up: bool) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.listening(up)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.deliver_here(channel, payload)

    def _on_probe(self, conn: object, pid: int, channel: str, payload: str) -> None:
        waiting = self._probe_waiting
        if waiting is not None and waiting[0] == payload and not waiting[1].done():
            waiting[1].set_result(None)

    async def _probe_loop(self, conn: asyncpg.Connection) -> None:
        """Until ``conn`` is replaced: a NOTIFY to ourselves, which must come back within the timeout."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._probe_interval)
            if not self._current(conn):
                return
            payload = uuid.uuid4().hex
            back: asyncio.Future[None] = loop.create_future()
            self._probe_waiting = (payload, back)
            try:
                async with asyncio.timeout(self._probe_timeout):
                    await conn.execute("SELECT pg_notify($1, $2)", PROBE_CHANNEL, payload)
                    await back
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if self._closing or conn is not self._conn:
                    return
                self.probes_failed += 1
                log.warning("the LISTEN connection did not answer its probe; reconnecting", extra={"error": repr(exc)})
                self._lose(conn)
                return
            finally:
                self._probe_waiting = None

    def _current(self, conn: asyncpg.Connection) -> bool:
        return not self._closing and not conn.is_closed() and conn is self._conn

    def _lose(self, conn: asyncpg.Connection) -> None:
        """Give up on a stalled ``conn``: tell everyone, drop it without waiting for it, reconnect."""
        conn.remove_termination_listener(self._on_lost)
        self._on_lost(conn)
        conn.terminate()

    def _on_lost(self, conn: object) -> None:
        if self._closing or conn is not self._conn:
            return
        log.warning("lost the LISTEN connection; reconnecting")
        self._conn = None
        if self._probe is not None and self._probe is not asyncio.current_task():
            self._probe.cancel()
        self._probe = None
        self._tell_all(False)
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closing:
            try:
                await self.start()
                log.info("LISTEN connection restored")
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(RECONNECT_SECONDS)
