"""Recently checked access tokens (an app's OAuth tokens and users' personal access tokens), so that an API
request usually costs no query for its bearer.

An entry is trusted only while the daemon's ``LISTEN`` connection is up: every change that could make a
cached check wrong (a token, grant or device revoked, a device bound, an app deactivated, a user suspended,
renamed or deleted, a personal access token revoked) fires ``pg_notify('mnwd_bearers', '')`` from a
trigger (migrations 0014 and 0017), on commit,
to every daemon, and each forgets everything it holds. The daemon that made the change forgets at once as
well (`BearerCache.forget_all`), without waiting for its own notification. Entries also age out.

Whoever holds a check for longer than a request (an event stream, a long poll) registers with
`BearerCache.on_forget` and is told at each forget, so it checks again at once.

Each such change also counts one **bearer epoch** (a counter in the database, given in commit order, carried
by the notification). `BearerCache.epoch` is the newest epoch this daemon has applied: read on its LISTEN
connection each time it connects (`read_epoch`, after the ``LISTEN``: every older change was either committed
before it, so forgotten at the connection, or notified ahead of the read's answer), then raised by each
notification. ``None`` while it is not known. `BearerCache.has_heard_of` tells whether a change counted in a
given epoch (read in some transaction) has been applied here, so nothing cached can still say otherwise: the
sync notifier pokes this daemon's own event streams at once only then.

An entry lives between half the cache's lifetime and all of it, by its token hash: thousands of event
streams opened together (after a restart, say) then check their tokens again spread over that half rather
than all at once when their entries would have aged out together, and stay spread afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from mnwd.clock import Clock
from mnwd.oauth.callers import ApiCaller
from mnwd.services import ServiceKey

__all__ = ["BEARERS", "CHANNEL", "BearerCache"]

CHANNEL = "mnwd_bearers"


class BearerCache:
    def __init__(self, seconds: float, *, clock: Clock | None = None, max_entries: int = 100_000) -> None:
        self._seconds = seconds
        self._clock = clock or Clock()
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[float, ApiCaller]] = {}  # token hash → (monotonic deadline, caller)
        self._listening = False
        # A check that read the database before a forget must not store what it read after it.
        self.generation = 0
        self._forget_listeners: list[Callable[[], None]] = []
        self.epoch: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self._seconds > 0 and self._listening

    def get(self, token_hash: bytes) -> ApiCaller | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        deadline, bearer = entry
        if (
            not self.enabled
            or self._clock.monotonic() > deadline
            or (bearer.expires_at is not None and bearer.expires_at <= self._clock.now())
        ):
            self._entries.pop(token_hash, None)
            return None
        return bearer

    def put(self, token_hash: bytes, bearer: ApiCaller, generation: int) -> None:
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token_hash] = (self._clock.monotonic() + self.lifetime(token_hash), bearer)

    def lifetime(self, token_hash: bytes) -> float:
        """Seconds an entry for this token is trusted: from half the cache's lifetime to all of it."""
        return self._seconds * (0.5 + token_hash[0] / 510)

    def on_forget(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (synchronous, quick) after every `forget_all`."""
        self._forget_listeners.append(listener)

    def forget_all(self) -> None:
        self.generation += 1
        self._entries.clear()
        for listener in self._forget_listeners:
            listener()

    def listening(self, up: bool) -> None:
        """The ``LISTEN`` connection came up or went down: either way, what we hold may have missed a change."""
        self.forget_all()
        self._listening = up
        self.epoch = None

    def on_notify(self, payload: str) -> None:
        self.forget_all()
        if self.epoch is not None and payload.isdigit():
            self.epoch = max(self.epoch, int(payload))

    def read_epoch(self, epoch: int) -> None:
        """The epoch read on the LISTEN connection right after it (re)connected."""
        self.epoch = max(self.epoch or 0, epoch)

    def has_heard_of(self, epoch: int) -> bool:
        """Every change counted up to ``epoch`` has been applied here (or nothing is cached at all, so every
        check reads the database)."""
        if not self.enabled:
            return True
        return self.epoch is not None and epoch <= self.epoch


BEARERS = ServiceKey("oauth.bearers", BearerCache)
