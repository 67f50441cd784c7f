from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from mnwd.accounts.domain import sweep_sessions
from mnwd.clock import Clock
from mnwd.errors import TooManyRequests
from mnwd.maintenance import sweep_browser_states, sweep_rate_limit_windows
from mnwd.ratelimit import Limit, RateLimiter, queries
from mnwd.services import Services


async def test_hits_over_the_limit_are_refused_with_retry_after(pool: asyncpg.Pool) -> None:
    limiter = RateLimiter(pool)
    limit = Limit("test", 3, 3600, "slow down")
    for _ in range(3):
        await limiter.hit(limit, "key")
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit(limit, "key")
    assert caught.value.detail == "slow down"
    # A sliding window may ask for up to half a window more: the refused hit counts into the next one.
    assert 0 < int(caught.value.headers["Retry-After"]) <= 3600 * 3 // 2
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
    await pool.execute("INSERT INTO rate_limits (bucket, window_start) VALUES ('old', now() - interval '3 days')")
    # The previous window of a day-long limit is still read.
    await pool.execute("INSERT INTO rate_limits (bucket, window_start) VALUES ('day', now() - interval '47 hours')")
    await pool.execute("INSERT INTO rate_limits (bucket, window_start) VALUES ('new', now())")
    await pool.execute("INSERT INTO web_sessions (id, expiry_date) VALUES ('gone', now() - interval '1 minute')")
    assert await sweep_rate_limit_windows(services) == 1
    assert await sweep_browser_states(services) == 1
    assert await sweep_sessions(services) == 0
    assert await pool.fetchval("SELECT array_agg(bucket ORDER BY bucket) FROM rate_limits") == ["day", "new"]


class SteppedClock(Clock):
    """Wall time set by the test."""

    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, UTC)


async def _passed(limiter: RateLimiter, limit: Limit, tries: int) -> int:
    passed = 0
    for _ in range(tries):
        try:
            await limiter.hit(limit, "burst")
            passed += 1
        except TooManyRequests:
            pass
    return passed


async def test_a_burst_straddling_a_window_boundary_gets_the_limit_once(pool: asyncpg.Pool) -> None:
    """Attack: with fixed windows, 10 hits in the last second of a window and 10 more in the first second of
    the next passed: 20 in two seconds for a limit of 10 per minute."""
    boundary = 1_800_000_000.0  # a multiple of 60
    clock = SteppedClock(boundary - 1)
    limiter = RateLimiter(pool, clock)
    limit = Limit("burst", 10, 60)
    first = await _passed(limiter, limit, 15)
    clock.epoch = boundary + 1
    second = await _passed(limiter, limit, 15)
    assert first == 10
    assert second <= 1  # the previous window still weighs 59/60 of its 15 hits
    # The window slides: half a window later, half the previous count has fallen out.
    clock.epoch = boundary + 31
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit(limit, "burst")
    # Retry-After names when one more hit will pass, no earlier: waiting that long is enough.
    clock.epoch += int(caught.value.headers["Retry-After"])
    await limiter.hit(limit, "burst")


async def test_a_steady_rate_under_the_limit_always_passes(pool: asyncpg.Pool) -> None:
    clock = SteppedClock(1_800_000_000.0)
    limiter = RateLimiter(pool, clock)
    limit = Limit("steady", 10, 60)
    for _ in range(40):  # four windows at 9 hits per minute
        await limiter.hit(limit, "k")
        clock.epoch += 60 / 9


async def test_a_fixed_window_limit_restarts_at_the_window_start(pool: asyncpg.Pool) -> None:
    boundary = 1_800_000_000.0
    clock = SteppedClock(boundary - 1)
    limiter = RateLimiter(pool, clock)
    limit = Limit("lockout", 5, 60, fixed_window=True)
    assert await _passed(limiter, limit, 5) == 5
    with pytest.raises(TooManyRequests) as caught:
        await limiter.check(limit, "burst")
    assert caught.value.headers["Retry-After"] == "1"
    clock.epoch = boundary
    await limiter.check(limit, "burst")


async def test_hit_all_counts_every_limit_in_one_statement(pool: asyncpg.Pool) -> None:
    limiter = RateLimiter(pool)
    wide, narrow = Limit("wide", 10, 3600, "wide"), Limit("narrow", 2, 3600, "narrow")
    await asyncio.gather(*(limiter.hit_all([(wide, "address"), (narrow, f"key-{n}")]) for n in range(8)))
    await limiter.hit_all([(wide, "address"), (narrow, "key-0")])
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit_all([(wide, "address"), (narrow, "key-0")])
    assert caught.value.detail == "narrow"
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit_all([(wide, "address"), (narrow, "key-9")])
    assert caught.value.detail == "wide", "the refused hits counted too"
    assert int(caught.value.headers["Retry-After"]) > 0
    with pytest.raises(ValueError, match="once"):
        await limiter.hit_all([(wide, "a"), (wide, "b")])


async def test_a_hit_skips_the_wal_flush_for_its_own_transaction_only(db_url: str) -> None:
    """Counting does not wait for the disk, and the connection it ran on keeps its durable setting for the
    next user of the pool (a payment or a sync push must still wait for the flush)."""
    # The test cluster runs with synchronous_commit off; production connections have it on.
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1, server_settings={"synchronous_commit": "on"})
    try:
        limiter = RateLimiter(pool)
        await limiter.hit(Limit("test", 10, 60), "k")
        await limiter.hit_all([(Limit("a", 10, 60), "k"), (Limit("b", 10, 60), "k")])
        assert await pool.fetchval("SHOW synchronous_commit") == "on"
        now = datetime.now(UTC)
        async with pool.acquire() as conn, conn.transaction():
            await queries.upsert_hit(conn, "inside", now, now)
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
            await queries.upsert_hits(conn, [("inside-2", now, now)])
        assert await pool.fetchval("SHOW synchronous_commit") == "on"
        assert await pool.fetchval("SELECT count(*) FROM rate_limits WHERE hits = 1") == 5
    finally:
        await pool.close()
