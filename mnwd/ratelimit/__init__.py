"""Rate limits counted in PostgreSQL, so every daemon sees the same count.

``await limiter.hit(Limit("login:ip", 20, 300), ip)`` counts one attempt and raises `TooManyRequests`
(429, with ``Retry-After``) once the limit is passed; `check` looks without counting.

**Sliding window.** Hits are counted per fixed window (one row per bucket and window start), but a limit is
judged over the last ``window_seconds``: the current window's count plus the previous window's weighted by
how much of it still lies inside that span (``previous * (1 - elapsed / window) + current``). A fixed window
let a burst straddling its boundary through at twice the limit; here such a burst gets the limit once. The
estimate assumes the previous window's hits were spread evenly; the error is at most the previous count
times the fraction of time misjudged, never a second full allowance at the boundary.

Every hit counts, refused ones too: ``hit`` increments and reads in one statement, so concurrent hits from
several daemons are each judged against an exact count. A `Limit` with ``fixed_window=True`` keeps the old
meaning (the count restarts at each window start), for a lockout that must end at a known time.

Windows may last at most a day; `sweep` keeps the previous window of every limit alive.

**Counts are not fsynced.** A hit commits with ``synchronous_commit`` off (for its own transaction only): it
does not wait for the disk, which on a hot path such as license validation or sign-in is most of its cost.
A database crash can forget the hits of its last fraction of a second (never corrupt a count); a limit is
then judged a few hits too kindly once, which no attacker can arrange at will.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from mnwd.clock import Clock
from mnwd.errors import TooManyRequests
from mnwd.ratelimit import queries

__all__ = ["MAX_WINDOW_SECONDS", "Limit", "RateLimiter"]

MAX_WINDOW_SECONDS = 86400


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int
    message: str = "Too many attempts. Wait a little and try again."
    fixed_window: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS or self.max_hits < 1:
            raise ValueError(f"limit {self.name}: window must be 1..{MAX_WINDOW_SECONDS} s and max_hits ≥ 1")


@dataclass(frozen=True)
class _Window:
    start: datetime
    previous_start: datetime
    elapsed: float  # seconds since ``start``


def _weight(limit: Limit, window: _Window) -> float:
    """The share of the previous window that still lies within the last ``window_seconds``."""
    return 0.0 if limit.fixed_window else max(0.0, 1.0 - window.elapsed / limit.window_seconds)


def _retry_after(limit: Limit, window: _Window, previous: int, current: int) -> int:
    """Seconds until one more hit would be allowed, if none come meanwhile."""
    length = limit.window_seconds
    room = limit.max_hits - 1  # the estimate must be at most this before a hit for that hit to pass
    if not limit.fixed_window and current <= room and previous > 0:
        # Within this window: previous * (1 - t / length) + current ≤ room.
        at = length * (1 - (room - current) / previous)
        if at < length:
            return max(1, math.ceil(at - window.elapsed))
    until_next = length - window.elapsed
    if limit.fixed_window or current <= room:
        return max(1, math.ceil(until_next))
    # In the next window ``current`` becomes the previous count: current * (1 - t / length) ≤ room.
    return max(1, math.ceil(until_next + length * (1 - room / current)))


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, clock: Clock | None = None) -> None:
        self._pool = pool
        self._clock = clock or Clock()

    def _window(self, limit: Limit) -> _Window:
        now = self._clock.now().timestamp()
        start = math.floor(now) - math.floor(now) % limit.window_seconds
        return _Window(
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(start - limit.window_seconds, UTC),
            now - start,
        )

    @staticmethod
    def _bucket(limit: Limit, key: str) -> str:
        # Keys can be emails; only a digest is stored.
        return f"{limit.name}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def hit(self, limit: Limit, key: str) -> None:
        window = self._window(limit)
        previous, current = await queries.upsert_hit(
            self._pool, self._bucket(limit, key), window.start, window.previous_start
        )
        if previous * _weight(limit, window) + current > limit.max_hits:
            raise TooManyRequests(limit.message, retry_after=_retry_after(limit, window, previous, current))

    async def hit_all(self, hits: Sequence[tuple[Limit, str]]) -> None:
        """`hit` for several limits in one statement (a hot path counting per address and per key at once):
        every hit is counted, then the first limit passed (in the order given) raises `TooManyRequests`."""
        if len({limit.name for limit, _ in hits}) != len(hits):
            raise ValueError("hit_all counts each limit once")
        judged = [(limit, self._bucket(limit, key), self._window(limit)) for limit, key in hits]
        counts = await queries.upsert_hits(
            self._pool, [(bucket, window.start, window.previous_start) for _, bucket, window in judged]
        )
        for limit, bucket, window in judged:
            previous, current = counts[bucket]
            if previous * _weight(limit, window) + current > limit.max_hits:
                raise TooManyRequests(limit.message, retry_after=_retry_after(limit, window, previous, current))

    async def check(self, limit: Limit, key: str) -> None:
        window = self._window(limit)
        previous, current = await queries.get_hits(
            self._pool, self._bucket(limit, key), window.start, window.previous_start
        )
        if previous * _weight(limit, window) + current >= limit.max_hits:
            raise TooManyRequests(limit.message, retry_after=_retry_after(limit, window, previous, current))

    async def sweep(self, older_than: timedelta = timedelta(seconds=2 * MAX_WINDOW_SECONDS)) -> int:
        """Delete the counts no limit reads any more (by default those older than two of the longest windows)."""
        return await queries.delete_windows_before(self._pool, self._clock.now() - older_than)
