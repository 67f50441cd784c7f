"""Pokes for live sync: one PostgreSQL ``LISTEN`` connection per daemon, fanned out in process.

A push sends ``pg_notify('mnwd_sync', '<app>:<user>:<seq>')`` inside its transaction, so the poke is
delivered when (and only if) the push commits, to every daemon. Waiters register *before* they look at
the database (`ChangeNotifier.watch`), so a change committed between the look and the wait still wakes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

__all__ = ["CHANNEL", "ChangeNotifier", "Watch", "poke_prefix"]

log = logging.getLogger(__name__)

CHANNEL = "mnwd_sync"
RECONNECT_SECONDS = 1.0
StreamKey = tuple[uuid.UUID, uuid.UUID]


def poke_prefix(app_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """The payload of a poke is this prefix followed by the newest seq: ``<app>:<user>:<seq>``."""
    return f"{app_id}:{user_id}:"


class Watch:
    """Notifications for one stream from the moment of registration."""

    def __init__(self) -> None:
        self.newest = 0
        self._event = asyncio.Event()

    def poke(self, seq: int) -> None:
        self.newest = max(self.newest, seq)
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when poked (since the last wait), False when the time ran out."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class ChangeNotifier:
    def __init__(self, url: str) -> None:
        self._url = url
        self._watches: dict[StreamKey, set[Watch]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self.streams_ending = False

    @property
    def watchers(self) -> int:
        return sum(len(w) for w in self._watches.values())

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._url, server_settings={"application_name": "mnwd-listen"})
        await self._conn.add_listener(CHANNEL, self._on_notify)
        self._conn.add_termination_listener(self._on_lost)

    def end_streams(self) -> None:
        """At shutdown: wake every waiter; long-lived streams see `streams_ending` and finish."""
        self.streams_ending = True
        for watchers in self._watches.values():
            for watch in watchers:
                watch.poke(0)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    @contextlib.asynccontextmanager
    async def watch(self, app_id: uuid.UUID, user_id: uuid.UUID) -> AsyncIterator[Watch]:
        key = (app_id, user_id)
        watch = Watch()
        self._watches[key].add(watch)
        try:
            yield watch
        finally:
            watchers = self._watches.get(key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watches[key]

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        try:
            app, user, seq = payload.split(":")
            key = (uuid.UUID(app), uuid.UUID(user))
            newest = int(seq)
        except ValueError:
            log.warning("ignored a malformed sync poke")
            return
        for watch in self._watches.get(key, ()):
            watch.poke(newest)

    def _on_lost(self, conn: object) -> None:
        if self._closing:
            return
        log.warning("lost the LISTEN connection; reconnecting")
        # Whoever waits looks at the database again: nothing is missed while we were away.
        for watchers in self._watches.values():
            for watch in watchers:
                watch.poke(0)
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closing:
            try:
                await self.start()
                log.info("LISTEN connection restored")
                for watchers in self._watches.values():
                    for watch in watchers:
                        watch.poke(0)
                return
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(RECONNECT_SECONDS)
