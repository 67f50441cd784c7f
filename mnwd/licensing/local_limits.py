"""The license API's rate limits counted in this process's memory, so that ``validate`` (the hot call: every
app start) costs no database write.

Interface::

    limiter = LocalLimiter(max_buckets=100_000)     # one per application (routes keep it in an AppKey)
    limiter.hit_all([(Limit(...), bucket), ...], now)   # counts each, then raises TooManyRequests (429 with
                                                    # Retry-After) for the first limit passed, in the order given

The window is the same sliding window as `mnwd.ratelimit` (``previous * (1 - elapsed / window) + current``,
counted per fixed window, refused hits counted too), so a limit means the same thing in memory and in
PostgreSQL. Buckets are whatever the caller hashes (the key's SHA-256, the address): no key is kept in clear.

**One daemon (DESIGN.md): exact.** Every license call of the daemon goes through this limiter (``validate``
only through it; ``activate``, ``deactivate``, ``heartbeat`` and ``file`` through it and through the
PostgreSQL limiter as well), so a key or an address gets its limit, whichever calls it mixes.

**Several daemons behind one address**: each counts its own share of ``validate`` calls, so a client spread
over N daemons may validate up to N times the limit; the calls that change or hand out something
(activations, files) are still counted in PostgreSQL and hold across daemons. Validation only reads, and a
key cannot be guessed by trying (about 98 random bits), so the looser bound costs load, not safety.

**Bounded**: at most ``max_buckets`` buckets; beyond, the one hit least recently is forgotten (it would
restart from zero if it came back). Filling the table takes ``max_buckets`` distinct keys and addresses
within a minute, which the per-address limit itself makes expensive.

Races: none within a process: a hit is counted and judged without an ``await`` in between (one event loop).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from mnwd.errors import TooManyRequests
from mnwd.ratelimit import Limit

__all__ = ["LocalLimiter"]

DEFAULT_MAX_BUCKETS = 100_000


class _Counts:
    __slots__ = ("current", "previous", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.previous = 0
        self.current = 0


def _retry_after(limit: Limit, elapsed: float, previous: int, current: int) -> int:
    """Seconds until one more hit would pass if none come meanwhile (as `mnwd.ratelimit` reckons it)."""
    length = limit.window_seconds
    room = limit.max_hits - 1
    if not limit.fixed_window and current <= room and previous > 0:
        at = length * (1 - (room - current) / previous)
        if at < length:
            return max(1, math.ceil(at - elapsed))
    until_next = length - elapsed
    if limit.fixed_window or current <= room:
        return max(1, math.ceil(until_next))
    return max(1, math.ceil(until_next + length * (1 - room / current)))


class LocalLimiter:
    def __init__(self, max_buckets: int = DEFAULT_MAX_BUCKETS) -> None:
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self._max = max_buckets
        self._counts: OrderedDict[tuple[str, Hashable], _Counts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def _hit(self, limit: Limit, bucket: Hashable, now: float) -> tuple[float, int, int] | None:
        """Count one hit; None if it passes, else (elapsed in the window, previous, current)."""
        length = limit.window_seconds
        whole = math.floor(now)
        start = whole - whole % length
        name = (limit.name, bucket)
        counts = self._counts.get(name)
        if counts is None:
            counts = self._counts[name] = _Counts(start)
            if len(self._counts) > self._max:
                self._counts.popitem(last=False)
        else:
            self._counts.move_to_end(name)
            if counts.start != start:
                counts.previous = counts.current if counts.start == start - length else 0
                counts.current = 0
                counts.start = start
        counts.current += 1
        elapsed = now - start
        weight = 0.0 if limit.fixed_window else max(0.0, 1.0 - elapsed / length)
        if counts.previous * weight + counts.current > limit.max_hits:
            return elapsed, counts.previous, counts.current
        return None

    def hit_all(self, hits: Sequence[tuple[Limit, Hashable]], now: float) -> None:
        """Count one hit against each limit, then refuse (429) for the first one passed, in the order given."""
        refused = [(limit, self._hit(limit, bucket, now)) for limit, bucket in hits]
        for limit, over in refused:
            if over is not None:
                raise TooManyRequests(limit.message, retry_after=_retry_after(limit, *over))
