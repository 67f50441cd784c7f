"""Pokes for live sync, heard on the daemon's LISTEN connection (`mnwd.db.listen`), fanned out in process.

A poke is ``'<app>:<user>:<seq>'`` on the ``mnwd_sync`` channel; a small push appends ``:`` and the JSON of
its changes (``{"seq", "after", "changes"}``), which event streams pass on as they are, so a client that is
up to date needs no pull. The push's database function returns the poke and the daemon sends it after the
commit (`ChangeNotifier.announce` → `ListenBus.notify`, coalesced with others into one NOTIFY transaction),
never from inside the push: a transaction that sends a NOTIFY holds a database-wide lock through its commit,
which would serialise every push of every stream.

The daemon that committed a push also pokes its own streams at once, without waiting for the NOTIFY to come
back, when nothing can be out of order: the race is a revocation committed (on any daemon) before the push
began, whose notification has not yet made this daemon forget the token checks it remembers; a stream poked
before that would pass the change on to the revoked token. The push reads the bearer epoch (migration 0040)
in its statement, and the poke goes out at once only if this daemon has applied every change up to that
epoch (``has_heard_of``); otherwise it is delivered when it comes back through LISTEN, after the revocation
(notifications arrive in commit order), as every other daemon receives it. A poke heard twice (at once and
back through LISTEN), or one older than what a watch was already told, is dropped by the watch. A poke
delivered here at once is not sent at all while no other daemon listens (`ListenBus.alone`): the one-daemon
deployment then pokes without touching the database. An event stream that waits with nothing unsent is
written in the deliverer's own call (`Watch.at_once`), so a push's poke is on the wire before the push's
answer.

Waiters register *before* they look at the database (`ChangeNotifier.watch`), so a change committed between
the look and the wait still wakes them.

Pokes can be lost (a send that fails, a daemon that dies between a commit and the send, a LISTEN connection
that was down). No client waits for ever because of it: when the bus reports trouble, and every
`RECHECK_SECONDS` anyway, the notifier reads the newest seq of every stream it watches (one query) and pokes
the watches that are behind it with that seq (`ChangeNotifier.recheck`); a long poll also ends by its own
``wait``. A client that misses a poke is told within about `RECHECK_SECONDS` at worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from mnwd.services import ServiceKey

__all__ = ["CHANNEL", "NOTIFIER", "POKE_CHANGES_MAX_BYTES", "ChangeNotifier", "Watch", "poke_prefix"]

log = logging.getLogger(__name__)

CHANNEL = "mnwd_sync"
# Far below NOTIFY's 8000-byte payload limit: typical interactive edits (a few small rows) fit.
POKE_CHANGES_MAX_BYTES = 2000
# A stream's client that falls this many pokes behind gets the newest seq alone, and pulls.
MAX_PENDING_POKES = 64
# The safety net for lost pokes: how often the heads of watched streams are read again.
RECHECK_SECONDS = 15.0
StreamKey = tuple[uuid.UUID, uuid.UUID]
ReadHeads = Callable[[Sequence[StreamKey]], Awaitable[dict[StreamKey, int]]]


def poke_prefix(app_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """The payload of a poke is this prefix, the newest seq, and maybe ``:`` and the changes' JSON."""
    return f"{app_id}:{user_id}:"


class Watch:
    """Notifications for one stream from the moment of registration; with ``keep_pokes``, each poke's JSON in
    order (``take_pokes``), for event streams.

    An event stream that is idle (waiting, nothing taken and unsent) may set ``at_once``: a poke is then offered
    to it first, in the poker's own call (a push's handler, the LISTEN callback), and is kept for ``wait`` only
    if it answers False. It must not raise, and it says False unless it could send the poke exactly as the
    waiting task would have (after the same checks)."""

    def __init__(self, *, keep_pokes: bool = False) -> None:
        self.newest = 0
        self._event = asyncio.Event()
        self._pokes: list[tuple[int, str | None]] | None = [] if keep_pokes else None
        self.at_once: Callable[[int, str | None], bool] | None = None

    def known(self, seq: int) -> None:
        """The watcher has seen the stream up to ``seq``: a re-check pokes only for newer changes."""
        self.newest = max(self.newest, seq)

    def poke(self, seq: int, changes: str | None = None) -> None:
        """``seq`` 0 only wakes the waiter (shutdown, reconnection, a closed client). A seq the watch already
        knew of (the same poke heard twice, an older one overtaken) changes nothing."""
        if seq and seq <= self.newest:
            return
        self.newest = max(self.newest, seq)
        if seq and self.at_once is not None and not self._pokes and self.at_once(seq, changes):
            return
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
    """Subscribed to `CHANNEL` on the LISTEN bus: wakes the watches of the stream each poke names.

    ``send`` hands a poke to the bus (after the push's commit); ``read_heads`` reads the newest seq of
    streams for `recheck`; ``has_heard_of(epoch)`` says whether a poke can be delivered here at once, and
    ``alone()`` whether no other daemon needs it. Without them (in unit tests) pokes are delivered here only
    and never re-checked.
    """

    def __init__(
        self,
        send: Callable[[str], None] | None = None,
        read_heads: ReadHeads | None = None,
        has_heard_of: Callable[[int], bool] | None = None,
        alone: Callable[[], bool] | None = None,
    ) -> None:
        self._watches: dict[StreamKey, set[Watch]] = defaultdict(set)
        # "<app>:<user>" as in a poke → the stream's key: a poke is routed without parsing its UUIDs.
        self._by_text: dict[str, StreamKey] = {}
        self.streams_ending = False
        self._send = send or self.on_notify
        self._read_heads = read_heads
        self._has_heard_of = has_heard_of
        self._alone = alone
        self.delivered_at_once = 0
        self.sent = 0
        self._rechecking: asyncio.Task[None] | None = None
        self._recheck_again = False
        self.rechecks = 0

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
        self._by_text[poke_prefix(app_id, user_id)[:-1]] = key
        try:
            yield watch
        finally:
            watchers = self._watches.get(key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watches[key]
                    self._by_text.pop(poke_prefix(app_id, user_id)[:-1], None)

    def announce(self, poke: str, bearer_epoch: int | None = None) -> None:
        """A committed push's poke (from the ``sync_push`` function): to every daemon, this one included;
        here at once when every revocation up to ``bearer_epoch`` (read by the push) was applied here."""
        if bearer_epoch is not None and self._has_heard_of is not None and self._has_heard_of(bearer_epoch):
            self.delivered_at_once += 1
            self.on_notify(poke)
            if self._alone is not None and self._alone():
                return
        self.sent += 1
        self._send(poke)

    def on_notify(self, payload: str) -> None:
        app, user, seq, *changes = payload.split(":", 3) if payload.count(":") >= 2 else ("", "", "")
        key = self._by_text.get(f"{app}:{user}")
        if key is None:
            return  # no watch here (or not a poke at all)
        try:
            newest = int(seq)
        except ValueError:
            log.warning("ignored a malformed sync poke")
            return
        for watch in self._watches.get(key, ()):
            watch.poke(newest, changes[0] if changes else None)

    def listening(self, up: bool) -> None:
        """Lost or back: whoever waits looks at the database again (long polls read their page, event streams
        are poked with their stream's newest seq), so nothing is missed while away."""
        self.wake_all()
        self.recheck_soon()

    def recheck_soon(self) -> None:
        """`recheck` in the background; asked while one runs, one more runs after it."""
        if self._read_heads is None or self.streams_ending:
            return
        if self._rechecking is not None and not self._rechecking.done():
            self._recheck_again = True
            return
        self._rechecking = asyncio.get_running_loop().create_task(self._recheck_until_asked_no_more())

    async def _recheck_until_asked_no_more(self) -> None:
        while True:
            self._recheck_again = False
            try:
                await self.recheck()
            except Exception:
                log.warning("could not re-check the heads of watched streams", exc_info=True)
            if not self._recheck_again:
                return

    async def recheck(self) -> None:
        """Poke every watch whose stream has a change newer than any it was told of, with that seq."""
        if self._read_heads is None or not self._watches:
            return
        self.rechecks += 1
        heads = await self._read_heads(list(self._watches))
        for key, head in heads.items():
            for watch in list(self._watches.get(key, ())):
                if head > watch.newest:
                    watch.poke(head)

    async def run(self, every: float = RECHECK_SECONDS) -> None:
        """Until cancelled: `recheck` every ``every`` seconds, for pokes lost without the bus noticing."""
        while True:
            await asyncio.sleep(every)
            self.recheck_soon()

    def close(self) -> None:
        if self._rechecking is not None:
            self._rechecking.cancel()

    def wake_all(self) -> None:
        """Wake every waiter without news: at shutdown, on reconnection, and when remembered token checks are
        forgotten (a revocation somewhere), so each stream checks its bearer before it sends anything more."""
        for watchers in self._watches.values():
            for watch in watchers:
                watch.poke(0)


NOTIFIER = ServiceKey("sync.notifier", ChangeNotifier)
