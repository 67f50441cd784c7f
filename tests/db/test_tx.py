from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mnwd.db.tx import Tx, run_tx
from mnwd.metrics import Metrics


async def test_serialization_failures_are_retried_and_actions_run_once_after_commit(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
    await pool.execute("INSERT INTO counter VALUES (1, 0)")
    metrics = Metrics()
    attempts = 0
    committed: list[int] = []
    both_read = asyncio.Barrier(2)

    async def bump(tx: Tx) -> int:
        nonlocal attempts
        attempts += 1
        n: int = await tx.conn.fetchval("SELECT n FROM counter WHERE id = 1")
        if attempts <= 2:
            await both_read.wait()
        await tx.conn.execute("UPDATE counter SET n = $1 WHERE id = 1", n + 1)
        tx.after_commit(lambda: committed.append(n + 1))
        return n + 1

    results = await asyncio.gather(
        run_tx(pool, "test.bump", bump, isolation="serializable", metrics=metrics),
        run_tx(pool, "test.bump", bump, isolation="serializable", metrics=metrics),
    )
    assert sorted(results) == [1, 2]
    assert await pool.fetchval("SELECT n FROM counter") == 2
    assert attempts == 3
    assert sorted(committed) == [1, 2]
    assert metrics.transactions.labels("test.bump", "retry")._value.get() == 1
    assert metrics.transactions.labels("test.bump", "commit")._value.get() == 2


async def test_a_failed_body_rolls_back_and_runs_no_action(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE notes (body text)")
    ran: list[str] = []

    async def body(tx: Tx) -> None:
        await tx.conn.execute("INSERT INTO notes VALUES ('half')")
        tx.after_commit(lambda: ran.append("poke"))
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await run_tx(pool, "test.fail", body)
    assert await pool.fetchval("SELECT count(*) FROM notes") == 0
    assert ran == []


async def test_a_failing_action_does_not_undo_the_commit(pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    await pool.execute("CREATE TABLE notes (body text)")
    ran: list[str] = []

    async def later() -> None:
        ran.append("async")

    def broken() -> None:
        raise RuntimeError("mail server down")

    async def body(tx: Tx) -> str:
        await tx.conn.execute("INSERT INTO notes VALUES ('kept')")
        tx.after_commit(broken)
        tx.after_commit(later)
        return "ok"

    assert await run_tx(pool, "test.actions", body) == "ok"
    assert await pool.fetchval("SELECT count(*) FROM notes") == 1
    assert ran == ["async"]
    assert any(r.getMessage() == "post-commit action failed" for r in caplog.records)
