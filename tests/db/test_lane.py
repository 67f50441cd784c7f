"""The fast lane (`mnwd.db.lane`): connections reused, never more than its size, a broken or cancelled one
never reused, a server error keeps its connection, a connection killed while idle replaced unnoticed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mnwd.db.lane import Lane
from mnwd.db.pool import session_settings

SETTINGS = session_settings(statement_timeout=30, lock_timeout=10)


@pytest.fixture
async def lane(db_url: str) -> AsyncIterator[Lane]:
    lane = Lane(db_url, size=2, server_settings=SETTINGS)
    try:
        yield lane
    finally:
        await lane.close()


async def _pid(lane: Lane) -> int:
    row = await lane.fetchrow("SELECT pg_backend_pid() AS pid")
    assert row is not None
    pid: int = row["pid"]
    return pid


async def test_a_connection_is_reused_and_set_up_like_the_pools(lane: Lane) -> None:
    first = await _pid(lane)
    assert await _pid(lane) == first
    assert lane.size == 1
    row = await lane.fetchrow("SELECT current_setting('lock_timeout') AS lt, '{\"a\": 1}'::jsonb AS j")
    assert row is not None
    assert (row["lt"], row["j"]) == ("10s", {"a": 1})


async def test_callers_beyond_its_size_wait_their_turn(lane: Lane) -> None:
    rows = await asyncio.gather(*(lane.fetchrow("SELECT pg_sleep(0.05), pg_backend_pid() AS pid") for _ in range(8)))
    assert len({r["pid"] for r in rows if r is not None}) == 2
    assert lane.size == 2


async def test_a_server_error_keeps_the_connection(lane: Lane) -> None:
    first = await _pid(lane)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await lane.fetchrow("SELECT 1 / 0")
    assert await _pid(lane) == first


async def test_a_cancelled_call_drops_its_connection(lane: Lane) -> None:
    first = await _pid(lane)
    call = asyncio.create_task(lane.fetchrow("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert lane.size == 0
    assert await _pid(lane) != first


async def test_a_connection_killed_while_idle_is_replaced(lane: Lane, pool: asyncpg.Pool) -> None:
    first = await _pid(lane)
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)
    await asyncio.sleep(0.2)  # the lane's socket hears the end
    assert await _pid(lane) != first
    assert lane.size == 1


async def test_a_failed_connect_frees_its_place(db_url: str) -> None:
    lane = Lane("postgresql://nobody@127.0.0.1:1/none", size=1, server_settings=SETTINGS)
    try:
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError):
                await lane.fetchrow("SELECT 1")
        assert lane.size == 0
    finally:
        await lane.close()


async def test_closing_ends_the_waiting(db_url: str) -> None:
    lane = Lane(db_url, size=1, server_settings=SETTINGS)
    busy = asyncio.create_task(lane.fetchrow("SELECT pg_sleep(0.3)"))
    await asyncio.sleep(0.1)
    waiting = asyncio.create_task(lane.fetchrow("SELECT 1"))
    await asyncio.sleep(0.05)
    await lane.close()
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await waiting
    await busy  # the call under way finishes; its connection is closed, not kept
    assert lane.size == 0


async def test_a_call_cancelled_while_its_statement_waits_leaves_nothing_behind(lane: Lane, pool: asyncpg.Pool) -> None:
    """A stopping daemon cancels a push that waits for its stream's lock: the statement must not run to its end
    (and commit) once the lock comes free, as it would if the lane only closed its socket."""
    await pool.execute("CREATE TABLE lane_probe (n integer)")
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock(4242)")
        call = asyncio.create_task(
            lane.fetchrow("INSERT INTO lane_probe SELECT 1 FROM (SELECT pg_advisory_xact_lock(4242)) AS locked")
        )
        await asyncio.sleep(0.3)  # the statement now waits for the lock
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await lane.close()  # waits for the server to have cancelled it
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT count(*) FROM lane_probe") == 0
