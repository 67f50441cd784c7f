"""Fixed-window rate limits counted in PostgreSQL, so every daemon sees the same count.

``await limiter.hit(Limit("login:ip", 20, 300), ip)`` counts one attempt and raises `TooManyRequests`
(429, with ``Retry-After``) once the window's limit is passed; `check` looks without counting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from mnwd.clock import Clock
from mnwd.errors import TooManyRequests
from mnwd.ratelimit import queries

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int
    message: str = "Too many attempts. Wait a little and try again."


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, clock: Clock | None = None) -> None:
        self._pool = pool
        self._clock = clock or Clock()

    @staticmethod
    def _window(limit: Limit, now: datetime) -> tuple[datetime, int]:
        epoch = int(now.timestamp())
        start = epoch - epoch % limit.window_seconds
        return datetime.fromtimestamp(start, UTC), start + limit.window_seconds - epoch

    @staticmethod
    def _bucket(limit: Limit, key: str) -> str:
        # Keys can be emails; only a digest is stored.
        return f"{limit.name}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def hit(self, limit: Limit, key: str) -> None:
        start, retry_after = self._window(limit, self._clock.now())
        hits = await queries.upsert_hit(self._pool, self._bucket(limit, key), start)
        if hits > limit.max_hits:
            raise TooManyRequests(limit.message, retry_after=max(retry_after, 1))

    async def check(self, limit: Limit, key: str) -> None:
        start, retry_after = self._window(limit, self._clock.now())
        if await queries.get_hits(self._pool, self._bucket(limit, key), start) >= limit.max_hits:
            raise TooManyRequests(limit.message, retry_after=max(retry_after, 1))

    async def sweep(self, older_than: timedelta = timedelta(days=1)) -> int:
        return await queries.delete_windows_before(self._pool, self._clock.now() - older_than)
