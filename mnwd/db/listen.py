"""The daemon's one PostgreSQL ``LISTEN`` connection, shared by every domain, with reconnection.

A domain subscribes a `Subscriber` to a channel (`ListenBus.subscribe`) before `start`; each
notification's payload is handed to it on the event loop. When the connection is lost every subscriber
hears ``listening(False)`` at once (what it holds may now miss a change: caches forget, waiters look at
the database again), and ``listening(True)`` when it is back; nothing sent while it was down is replayed,
so a subscriber must treat reconnection as "anything may have changed".

NOTIFY is delivered on commit only, to every daemon listening, in commit order per sending session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import asyncpg

__all__ = ["ListenBus", "Subscriber"]

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class Subscriber(Protocol):
    def on_notify(self, payload: str) -> None: ...

    def listening(self, up: bool) -> None:
        """The connection came up (True) or was lost (False)."""


class ListenBus:
    def __init__(self, url: str) -> None:
        self._url = url
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._conn: asyncpg.Connection | None = None
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None

    @property
    def channels(self) -> list[str]:
        return sorted(self._subscribers)

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        if self._conn is not None:
            raise RuntimeError("subscribe before the LISTEN connection starts")
        self._subscribers.setdefault(channel, []).append(subscriber)

    def deliver_here(self, channel: str, payload: str = "") -> None:
        """Hand ``payload`` to this daemon's subscribers now, as if it had been notified (the others hear
        the real notification at commit)."""
        for subscriber in self._subscribers.get(channel, ()):
            subscriber.on_notify(payload)

    async def start(self) -> None:
        self._closing = False
        conn = await asyncpg.connect(self._url, server_settings={"application_name": "mnwd-listen"})
        for channel in self._subscribers:
            await conn.add_listener(channel, self._on_notify)
        conn.add_termination_listener(self._on_lost)
        self._conn = conn
        self._tell_all(True)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    def _tell_all(self, up: bool) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.listening(up)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.deliver_here(channel, payload)

    def _on_lost(self, conn: object) -> None:
        if self._closing:
            return
        log.warning("lost the LISTEN connection; reconnecting")
        self._tell_all(False)
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closing:
            try:
                await self.start()
                log.info("LISTEN connection restored")
                return
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(RECONNECT_SECONDS)
