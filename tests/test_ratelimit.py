from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mnwd.accounts.domain import sweep_sessions
from mnwd.errors import TooManyRequests
from mnwd.maintenance import sweep_browser_states, sweep_rate_limit_windows
from mnwd.ratelimit import Limit, RateLimiter
from mnwd.services import Services


async def test_hits_over_the_limit_are_refused_with_retry_after(pool: asyncpg.Pool) -> None:
    limiter = RateLimiter(pool)
    limit = Limit("test", 3, 3600, "slow down")
    for _ in range(3):
        await limiter.hit(limit, "key")
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit(limit, "key")
    assert caught.value.detail == "slow down"
    assert 0 < int(caught.value.headers["Retry-After"]) <= 3600
    await limiter.hit(limit, "other key")


async def test_concurrent_hits_are_counted_exactly(pool: asyncpg.Pool) -> None:
    limiter = RateLimiter(pool)
    limit = Limit("test", 10, 3600)
    results = await asyncio.gather(*(limiter.hit(limit, "k") for _ in range(25)), return_exceptions=True)
    assert sum(r is None for r in results) == 10
    assert sum(isinstance(r, TooManyRequests) for r in results) == 15


async def test_keys_are_stored_as_digests(pool: asyncpg.Pool) -> None:
    await RateLimiter(pool).hit(Limit("login:failures", 5, 60), "alice@example.org")
    bucket = await pool.fetchval("SELECT bucket FROM rate_limits")
    assert bucket.startswith("login:failures:")
    assert "alice" not in bucket


async def test_maintenance_sweeps_old_windows_and_sessions(services: Services) -> None:
    pool = services.pool
    await pool.execute("INSERT INTO rate_limits (bucket, window_start) VALUES ('old', now() - interval '2 days')")
    await pool.execute("INSERT INTO rate_limits (bucket, window_start) VALUES ('new', now())")
    await pool.execute("INSERT INTO web_sessions (id, expiry_date) VALUES ('gone', now() - interval '1 minute')")
    assert await sweep_rate_limit_windows(services) == 1
    assert await sweep_browser_states(services) == 1
    assert await sweep_sessions(services) == 0
    assert await pool.fetchval("SELECT array_agg(bucket) FROM rate_limits") == ["new"]
