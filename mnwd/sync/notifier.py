"""Pokes for live sync, heard on the daemon's LISTEN connection (`mnwd.db.listen`), fanned out in process.

A push sends ``pg_notify('mnwd_sync', '<app>:<user>:<seq>')`` inside its transaction, so the poke is
delivered when (and only if) the push commits, to every daemon. A small push appends ``:`` and the JSON of
its changes (``{"seq", "after", "changes"}``), which event streams pass on as they are, so a client that is
up to date needs no pull. Waiters register *before* they look at
the database (`ChangeNotifier.watch`), so a change committed between the look and the wait still wakes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

from mnwd.services import ServiceKey

__all__ = ["CHANNEL", "NOTIFIER", "POKE_CHANGES_MAX_BYTES", "ChangeNotifier", "Watch", "poke_prefix"]

log = logging.getLogger(__name__)

CHANNEL = "mnwd_sync"
# Far below NOTIFY's 8000-byte payload limit: typical interactive edits (a few small rows) fit.
POKE_CHANGES_MAX_BYTES = 2000
# A stream's client that falls this many pokes behind gets the newest seq alone, and pulls.
MAX_PENDING_POKES = 64
StreamKey = tuple[uuid.UUID, uuid.UUID]


def poke_prefix(app_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """The payload of a poke is this prefix, the newest seq, and maybe ``:`` and the changes' JSON."""
    return f"{app_id}:{user_id}:"


class Watch:
    """Notifications for one stream from the moment of registration; with ``keep_pokes``, each poke's JSON in
    order (``take_pokes``), for event streams."""

    def __init__(self, *, keep_pokes: bool = False) -> None:
        self.newest = 0
        self._event = asyncio.Event()
        self._pokes: list[tuple[int, str | None]] | None = [] if keep_pokes else None

    def poke(self, seq: int, changes: str | None = None) -> None:
        """``seq`` 0 only wakes the waiter (shutdown, reconnection, a closed client)."""
        self.newest = max(self.newest, seq)
        if self._pokes is not None and seq:
            if len(self._pokes) >= MAX_PENDING_POKES:
                self._pokes = [(self.newest, None)]
            else:
                self._pokes.append((seq, changes))
        self._event.set()

    def take_pokes(self) -> list[tuple[int, str | None]]:
        """The pokes since the last call: (newest seq, the JSON with the changes when the poke carried them)."""
        pokes = self._pokes or []
        if self._pokes is not None:
            self._pokes = []
        return pokes

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
    """Subscribed to `CHANNEL` on the LISTEN bus: wakes the watches of the stream each poke names."""

    def __init__(self) -> None:
        self._watches: dict[StreamKey, set[Watch]] = defaultdict(set)
        self.streams_ending = False

    @property
    def watchers(self) -> int:
        return sum(len(w) for w in self._watches.values())

    def end_streams(self) -> None:
        """At shutdown: wake every waiter; long-lived streams see `streams_ending` and finish."""
        self.streams_ending = True
        self.wake_all()

    @contextlib.asynccontextmanager
    async def watch(self, app_id: uuid.UUID, user_id: uuid.UUID, *, keep_pokes: bool = False) -> AsyncIterator[Watch]:
        key = (app_id, user_id)
        watch = Watch(keep_pokes=keep_pokes)
        self._watches[key].add(watch)
        try:
            yield watch
        finally:
            watchers = self._watches.get(key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watches[key]

    def on_notify(self, payload: str) -> None:
        try:
            app, user, seq, *changes = payload.split(":", 3)
            key = (uuid.UUID(app), uuid.UUID(user))
            newest = int(seq)
        except ValueError:
            log.warning("ignored a malformed sync poke")
            return
        for watch in self._watches.get(key, ()):
            watch.poke(newest, changes[0] if changes else None)

    def listening(self, up: bool) -> None:
        """Lost or back: whoever waits looks at the database again, so nothing is missed while away."""
        self.wake_all()

    def wake_all(self) -> None:
        """Wake every waiter without news: at shutdown, on reconnection, and when remembered token checks are
        forgotten (a revocation somewhere), so each stream checks its bearer before it sends anything more."""
        for watchers in self._watches.values():
            for watch in watchers:
                watch.poke(0)


NOTIFIER = ServiceKey("sync.notifier", ChangeNotifier)
