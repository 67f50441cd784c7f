from __future__ import annotations

import asyncio

import asyncpg

from mnwd.web import queries


async def test_popping_state_is_atomic(pool: asyncpg.Pool) -> None:
    await queries.upsert_web_session(pool, "s1", {"challenge": {"c": "abc"}, "other": 1}, 60)
    results = await asyncio.gather(*(queries.pop_web_session_key(pool, "s1", "challenge") for _ in range(10)))
    assert [r for r in results if r is not None] == [{"c": "abc"}]
    assert await queries.get_web_session(pool, "s1") == {"other": 1}
    assert await queries.pop_web_session_key(pool, "missing", "challenge") is None
