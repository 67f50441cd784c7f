"""The durable job queue (mnwd/db/jobs.py) on real PostgreSQL: every test asserts the rows it leaves."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import generate_latest

from mnwd.db import job_queries
from mnwd.db.jobs import Backoff, Job, JobQueue, PermanentJobError, enqueue, sweep
from mnwd.db.pool import create_pool
from mnwd.db.tx import Tx, run_tx
from mnwd.metrics import Metrics
from tests.support.waiting import until_set


async def job_row(pool: asyncpg.Pool, job_id: uuid.UUID | None) -> asyncpg.Record:
    row = await pool.fetchrow(
        """SELECT *, run_at - now() AS due_in, locked_until - now() AS lease_left FROM jobs WHERE id = $1""", job_id
    )
    assert row is not None
    return row


async def make_due(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE jobs SET run_at = now() WHERE state = 'queued'")


async def expire_leases(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE jobs SET locked_until = now() - interval '1 second' WHERE state = 'running'")


async def wait_until(condition: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


async def returns(value: bool) -> bool:
    return value


def metric_lines(metrics: Metrics) -> set[str]:
    return {line for line in generate_latest(metrics.registry).decode().splitlines() if line.startswith("mnwd_job")}


# Enqueue


async def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(pool: asyncpg.Pool) -> None:
    class Undo(Exception):
        pass

    async def body(tx: Tx) -> None:
        assert await enqueue(tx.conn, "accounts.send_mail", {"to": "a@example.org"}) is not None
        raise Undo

    with pytest.raises(Undo):
        await run_tx(pool, "test.enqueue", body)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, "accounts.send_mail", {"to": "b@example.org"}, key="b")
        await tx.rollback()
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_committed_enqueue_is_one_queued_row_and_wakes_after_commit(pool: asyncpg.Pool) -> None:
    jobs = JobQueue(pool)
    woken_in_tx: list[bool] = []

    async def body(tx: Tx) -> uuid.UUID | None:
        job_id = await enqueue(tx.conn, "accounts.send_mail", {"to": "a@example.org", "n": 1})
        tx.after_commit(jobs.wake)
        woken_in_tx.append(jobs._wake.is_set())
        return job_id

    job_id = await run_tx(pool, "test.enqueue", body)
    assert woken_in_tx == [False]
    assert jobs._wake.is_set()
    row = await job_row(pool, job_id)
    assert (row["kind"], row["payload"], row["state"], row["attempts"], row["max_attempts"]) == (
        "accounts.send_mail",
        {"to": "a@example.org", "n": 1},
        "queued",
        0,
        None,
    )
    assert row["due_in"] <= timedelta(0)


async def test_an_idempotency_key_dedupes_per_kind(pool: asyncpg.Pool) -> None:
    first = await enqueue(pool, "accounts.send_mail", {"n": 1}, key="welcome:42")
    assert first is not None
    assert await enqueue(pool, "accounts.send_mail", {"n": 2}, key="welcome:42") is None
    assert await enqueue(pool, "mailing.send_mail", {"n": 3}, key="welcome:42") is not None
    assert await enqueue(pool, "accounts.send_mail", {"n": 4}) is not None
    assert await enqueue(pool, "accounts.send_mail", {"n": 5}) is not None
    rows = await pool.fetch("SELECT kind, payload FROM jobs ORDER BY payload->>'n'")
    assert [(r["kind"], r["payload"]["n"]) for r in rows] == [
        ("accounts.send_mail", 1),
        ("mailing.send_mail", 3),
        ("accounts.send_mail", 4),
        ("accounts.send_mail", 5),
    ]


async def test_concurrent_enqueues_of_one_key_make_one_job(pool: asyncpg.Pool) -> None:
    """The second transaction waits for the first; it inserts nothing when the first commits."""
    async with pool.acquire() as a, pool.acquire() as b:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        assert await enqueue(a, "ota.build", {"push": 1}, key="push-1") is not None
        second = asyncio.create_task(enqueue(b, "ota.build", {"push": 1}, key="push-1"))
        await asyncio.sleep(0.2)
        assert not second.done()
        await tx_a.commit()
        assert await second is None
        await tx_b.commit()
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 1


@pytest.mark.parametrize(
    ("kind", "payload", "options", "error"),
    [
        ("sendmail", {}, {}, ValueError),
        ("Accounts.send", {}, {}, ValueError),
        ("accounts.send-mail", {}, {}, ValueError),
        ("accounts." + "x" * 100, {}, {}, ValueError),
        ("accounts.send", ["not", "a", "dict"], {}, TypeError),
        ("accounts.send", {"when": object()}, {}, TypeError),
        ("accounts.send", {"text": "nul \x00 here"}, {}, ValueError),
        ("accounts.send", {"big": "x" * 300_000}, {}, ValueError),
        ("accounts.send", {}, {"key": ""}, ValueError),
        ("accounts.send", {}, {"run_at": datetime(2030, 1, 1)}, ValueError),
        ("accounts.send", {}, {"max_attempts": 0}, ValueError),
    ],
)
async def test_enqueue_refuses_bad_input_before_touching_the_database(
    pool: asyncpg.Pool, kind: str, payload: Any, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await enqueue(pool, kind, payload, **options)
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_payload_with_an_escaped_backslash_before_u0000_is_accepted(pool: asyncpg.Pool) -> None:
    job_id = await enqueue(pool, "accounts.send", {"text": "C:\\u0000"})
    assert (await job_row(pool, job_id))["payload"] == {"text": "C:\\u0000"}


# Running


async def test_a_job_runs_once_and_ends_done(pool: asyncpg.Pool) -> None:
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler)
    job_id = await enqueue(pool, "accounts.send_mail", {"to": "a@example.org"}, key="k1")
    assert await jobs.run_due() == 1
    assert await jobs.run_due() == 0
    assert [(j.id, j.kind, j.payload, j.attempt, j.max_attempts, j.key) for j in seen] == [
        (job_id, "accounts.send_mail", {"to": "a@example.org"}, 1, 5, "k1")
    ]
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["locked_until"], row["last_error"]) == ("done", 1, None, None)
    assert row["finished_at"] is not None
    assert row["started_at"] is not None


async def test_a_job_delayed_by_run_at_waits(pool: asyncpg.Pool) -> None:
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.payload["n"])

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler)
    await enqueue(pool, "accounts.send_mail", {"n": 1}, run_at=datetime.now(UTC) + timedelta(hours=1))
    assert await jobs.run_due() == 0
    await make_due(pool)
    assert await jobs.run_due() == 1
    assert ran == [1]


async def test_a_failing_job_is_retried_with_backoff_then_dead(pool: asyncpg.Pool) -> None:
    attempts: list[int] = []

    async def handler(job: Job) -> None:
        attempts.append(job.attempt)
        raise RuntimeError(f"smtp down ({job.attempt})\nsecond line")

    metrics = Metrics()
    jobs = JobQueue(pool, metrics=metrics)
    jobs.register("accounts.send_mail", handler, max_attempts=3, backoff=lambda attempt: 100.0 * attempt)
    job_id = await enqueue(pool, "accounts.send_mail", {})

    assert await jobs.run_due() == 1
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["locked_until"]) == ("queued", 1, None)
    assert timedelta(seconds=99) < row["due_in"] <= timedelta(seconds=100)
    assert row["last_error"].startswith("RuntimeError: smtp down (1)")
    assert await jobs.run_due() == 0

    await make_due(pool)
    assert await jobs.run_due() == 1
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("queued", 2)
    assert timedelta(seconds=199) < row["due_in"] <= timedelta(seconds=200)

    await make_due(pool)
    assert await jobs.run_due() == 1
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["finished_at"] is not None) == ("dead", 3, True)
    assert row["last_error"].startswith("RuntimeError: smtp down (3)")
    await make_due(pool)
    assert await jobs.run_due() == 0
    assert attempts == [1, 2, 3]
    lines = metric_lines(metrics)
    assert 'mnwd_jobs_run_total{kind="accounts.send_mail",outcome="retry"} 2.0' in lines
    assert 'mnwd_jobs_run_total{kind="accounts.send_mail",outcome="dead"} 1.0' in lines


async def test_max_attempts_given_at_enqueue_overrides_the_handlers(pool: asyncpg.Pool) -> None:
    async def handler(job: Job) -> None:
        raise RuntimeError("no")

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler, max_attempts=10)
    job_id = await enqueue(pool, "accounts.send_mail", {}, max_attempts=1)
    assert await jobs.run_due() == 1
    assert (await job_row(pool, job_id))["state"] == "dead"


async def test_a_permanent_error_sends_the_job_to_dead_at_once(pool: asyncpg.Pool) -> None:
    async def handler(job: Job) -> None:
        raise PermanentJobError("user deleted")

    metrics = Metrics()
    jobs = JobQueue(pool, metrics=metrics)
    jobs.register("accounts.send_mail", handler)
    job_id = await enqueue(pool, "accounts.send_mail", {})
    assert await jobs.run_due() == 1
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == (
        "dead",
        1,
        "mnwd.db.jobs.PermanentJobError: user deleted",
    )
    assert 'mnwd_jobs_run_total{kind="accounts.send_mail",outcome="dead"} 1.0' in metric_lines(metrics)


async def test_a_long_error_is_cut_and_a_nul_in_it_is_stored(pool: asyncpg.Pool) -> None:
    async def handler(job: Job) -> None:
        raise ValueError("\x00" + "x" * 5000)

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler, max_attempts=1)
    job_id = await enqueue(pool, "accounts.send_mail", {})
    await jobs.run_due()
    error = (await job_row(pool, job_id))["last_error"]
    assert error.startswith("ValueError: \\x00xxx")
    assert len(error) == 1000


def test_the_default_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    backoff = Backoff(base=10, factor=2, cap=3600, jitter=0.5)
    for _ in range(200):
        assert 5 <= backoff(1) <= 10
        assert 20 <= backoff(3) <= 40
        assert 1800 <= backoff(30) <= 3600
    assert len({backoff(1) for _ in range(20)}) > 1


async def test_unknown_kinds_are_left_alone(pool: asyncpg.Pool) -> None:
    async def handler(job: Job) -> None:
        raise AssertionError("must not run")

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler)
    queued = await enqueue(pool, "ota.build", {"n": 1})
    running = await enqueue(pool, "ota.build", {"n": 2})
    await pool.execute(
        "UPDATE jobs SET state = 'running', attempts = 9, locked_until = now() - interval '1 hour' WHERE id = $1",
        running,
    )
    assert await jobs.run_due() == 0
    assert [(r["state"], r["attempts"]) for r in [await job_row(pool, queued), await job_row(pool, running)]] == [
        ("queued", 0),
        ("running", 9),
    ]


async def test_register_refuses_a_bad_or_repeated_kind(pool: asyncpg.Pool) -> None:
    async def handler(job: Job) -> None:
        pass

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", handler)
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("accounts.send_mail", handler)
    with pytest.raises(ValueError, match=r"domain\.verb"):
        jobs.register("send_mail", handler)
    assert jobs.kinds == ["accounts.send_mail"]


# Several runners, leases, crashes


async def test_two_runners_racing_over_50_jobs_run_each_exactly_once(pool: asyncpg.Pool, db_url: str) -> None:
    ran: Counter[int] = Counter()
    by_runner: Counter[str] = Counter()

    def handler_for(name: str) -> Callable[[Job], Awaitable[None]]:
        async def handler(job: Job) -> None:
            ran[job.payload["n"]] += 1
            by_runner[name] += 1
            await asyncio.sleep(0.005)

        return handler

    for n in range(50):
        await enqueue(pool, "mailing.send", {"n": n})
    other_pool = await create_pool(db_url, min_size=1, max_size=4)
    try:
        first, second = JobQueue(pool), JobQueue(other_pool)
        first.register("mailing.send", handler_for("first"))
        second.register("mailing.send", handler_for("second"))

        async def drain(jobs: JobQueue) -> None:
            while await jobs.run_due(limit=3):
                pass

        await asyncio.gather(drain(first), drain(second))
    finally:
        await other_pool.close()
    assert ran == Counter(range(50))
    assert by_runner["first"] > 0
    assert by_runner["second"] > 0
    rows = await pool.fetch("SELECT state, attempts, count(*) AS n FROM jobs GROUP BY 1, 2")
    assert [(r["state"], r["attempts"], r["n"]) for r in rows] == [("done", 1, 50)]


async def test_a_job_whose_lease_ran_out_is_run_again(pool: asyncpg.Pool) -> None:
    """A worker claimed the job and vanished (its lease is moved into the past): another runner takes it."""
    attempts: list[int] = []

    async def handler(job: Job) -> None:
        attempts.append(job.attempt)

    metrics = Metrics()
    jobs = JobQueue(pool, metrics=metrics)
    jobs.register("ota.build", handler)
    job_id = await enqueue(pool, "ota.build", {"push": 1})
    await job_queries.claim_jobs(pool, ["ota.build"], 10, 60.0)
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("running", 1)
    assert timedelta(seconds=59) < row["lease_left"] <= timedelta(seconds=60)
    assert await jobs.run_due() == 0

    await expire_leases(pool)
    assert await jobs.run_due() == 1
    assert attempts == [2]
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert row["last_error"].startswith("lease expired")
    assert 'mnwd_jobs_run_total{kind="ota.build",outcome="expired"} 1.0' in metric_lines(metrics)


async def test_a_job_whose_lease_ran_out_on_its_last_attempt_is_dead(pool: asyncpg.Pool) -> None:
    """A job that kills its daemon every time must not loop forever."""

    async def handler(job: Job) -> None:
        raise AssertionError("must not run")

    jobs = JobQueue(pool)
    jobs.register("ota.build", handler, max_attempts=2)
    job_id = await enqueue(pool, "ota.build", {})
    for _ in range(2):
        await job_queries.claim_jobs(pool, ["ota.build"], 10, 60.0)
        await expire_leases(pool)
        await jobs.run_due(limit=0)
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["finished_at"] is not None) == ("dead", 2, True)


async def test_a_runner_that_lost_its_lease_does_not_overwrite_the_newer_attempt(pool: asyncpg.Pool) -> None:
    slow_started, slow_release = asyncio.Event(), asyncio.Event()

    async def slow(job: Job) -> None:
        slow_started.set()
        await slow_release.wait()
        raise RuntimeError("late failure")

    async def quick(job: Job) -> None:
        pass

    metrics = Metrics()
    stale, fresh = JobQueue(pool, metrics=metrics), JobQueue(pool)
    stale.register("ota.build", slow)
    fresh.register("ota.build", quick)
    job_id = await enqueue(pool, "ota.build", {})
    stale_run = asyncio.create_task(stale.run_due())
    await until_set(slow_started, stale_run)
    await expire_leases(pool)
    assert await fresh.run_due() == 1
    slow_release.set()
    assert await asyncio.wait_for(stale_run, 10) == 1
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert 'mnwd_jobs_run_total{kind="ota.build",outcome="lost"} 1.0' in metric_lines(metrics)


async def test_a_running_daemon_renews_the_lease_of_a_long_job(pool: asyncpg.Pool) -> None:
    release = asyncio.Event()
    attempts: list[int] = []

    async def long_build(job: Job) -> None:
        attempts.append(job.attempt)
        await release.wait()

    jobs = JobQueue(pool, lease=0.9, poll_interval=0.05)
    jobs.register("ota.build", long_build)
    other = JobQueue(pool, lease=0.9)
    other.register("ota.build", long_build)
    job_id = await enqueue(pool, "ota.build", {})
    await jobs.start()
    try:
        await wait_until(lambda: returns(bool(attempts)))
        for _ in range(8):  # 2 s: well past the first lease
            await asyncio.sleep(0.25)
            assert await other.run_due() == 0
        assert (await job_row(pool, job_id))["state"] == "running"
        release.set()
        await wait_until(lambda: returns(not jobs._in_flight))
    finally:
        await jobs.stop()
    assert attempts == [1]
    assert (await job_row(pool, job_id))["state"] == "done"


async def test_a_job_claimed_by_a_process_killed_with_sigkill_is_run_again(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            from mnwd.db.jobs import JobQueue
            from mnwd.db.pool import create_pool

            async def hang(job):
                print("running", job.attempt, flush=True)
                await asyncio.sleep(3600)

            async def main():
                pool = await create_pool(sys.argv[1], min_size=1, max_size=2)
                jobs = JobQueue(pool, lease=1.0)
                jobs.register("licensing.issue", hang)
                await jobs.start()
                await asyncio.sleep(3600)

            asyncio.run(main())
            """
        )
    )
    job_id = await enqueue(pool, "licensing.issue", {"purchase": "p1"})
    worker = await asyncio.create_subprocess_exec(sys.executable, str(script), db_url, stdout=subprocess.PIPE)
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 30)
        assert line.split() == [b"running", b"1"]
        await asyncio.sleep(0.5)  # the worker has renewed its lease at least once by now
        os.kill(worker.pid, signal.SIGKILL)
        assert await asyncio.wait_for(worker.wait(), 10) == -signal.SIGKILL
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("running", 1)

    attempts: list[int] = []

    async def issue(job: Job) -> None:
        attempts.append(job.attempt)

    jobs = JobQueue(pool)
    jobs.register("licensing.issue", issue)

    async def ran_again() -> bool:
        return await jobs.run_due() == 1

    await wait_until(ran_again)
    assert attempts == [2]
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("done", 2)


# The loop: wake, stop


async def test_wake_after_commit_runs_the_job_without_waiting_for_the_poll(pool: asyncpg.Pool) -> None:
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        done.set()

    jobs = JobQueue(pool, poll_interval=3600)
    jobs.register("accounts.send_mail", handler)
    await jobs.start()
    try:
        await asyncio.sleep(0.1)  # the loop's first look found nothing and sleeps for an hour

        async def body(tx: Tx) -> None:
            await enqueue(tx.conn, "accounts.send_mail", {"to": "a@example.org"}, key="welcome:1")
            tx.after_commit(jobs.wake)

        await run_tx(pool, "test.sign_up", body)
        await asyncio.wait_for(done.wait(), 5)
        await wait_until(lambda: returns(not jobs._in_flight))
    finally:
        await jobs.stop()
    assert await pool.fetchval("SELECT state FROM jobs") == "done"


async def test_the_loop_runs_at_most_concurrency_jobs_at_once_and_drains_the_rest(pool: asyncpg.Pool) -> None:
    running = 0
    most = 0

    async def handler(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1

    for n in range(12):
        await enqueue(pool, "mailing.send", {"n": n})
    jobs = JobQueue(pool, concurrency=3, poll_interval=3600)
    jobs.register("mailing.send", handler)
    await jobs.start()
    try:

        async def all_done() -> bool:
            return await pool.fetchval("SELECT count(*) FROM jobs WHERE state = 'done'") == 12

        await wait_until(all_done)
    finally:
        await jobs.stop()
    assert most == 3


async def test_stop_lets_a_running_job_finish(pool: asyncpg.Pool) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(job: Job) -> None:
        started.set()
        await release.wait()

    jobs = JobQueue(pool, poll_interval=0.05)
    jobs.register("ota.build", handler)
    job_id = await enqueue(pool, "ota.build", {})
    await jobs.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(jobs.stop(grace=10))
    await asyncio.sleep(0.1)
    assert not stopping.done()
    await enqueue(pool, "ota.build", {"after": "stop"})
    release.set()
    await asyncio.wait_for(stopping, 5)
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"]) == ("done", 1)
    assert await pool.fetchval("SELECT state FROM jobs WHERE payload ? 'after'") == "queued"


async def test_stop_gives_back_a_job_still_running_after_the_grace_period(pool: asyncpg.Pool) -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def handler(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    metrics = Metrics()
    jobs = JobQueue(pool, metrics=metrics, poll_interval=0.05)
    jobs.register("ota.build", handler)
    job_id = await enqueue(pool, "ota.build", {})
    await jobs.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(jobs.stop(grace=0.2), 5)
    assert cancelled == [True]
    row = await job_row(pool, job_id)
    assert (row["state"], row["attempts"], row["locked_until"]) == ("queued", 1, None)
    assert row["due_in"] <= timedelta(0)
    assert row["last_error"] == "interrupted: daemon stopped"
    lines = metric_lines(metrics)
    assert 'mnwd_jobs_run_total{kind="ota.build",outcome="interrupted"} 1.0' in lines
    assert "mnwd_jobs_in_flight 0.0" in lines


# Metrics, sweep


async def test_metrics_count_outcomes_by_kind_and_time_the_handlers(pool: asyncpg.Pool) -> None:
    async def ok(job: Job) -> None:
        pass

    async def flaky(job: Job) -> None:
        raise RuntimeError("try later")

    metrics = Metrics()
    jobs = JobQueue(pool, metrics=metrics)
    jobs.register("accounts.send_mail", ok)
    jobs.register("ota.build", flaky)
    # A second queue on the same registry (another part of the daemon) shares the metrics instead of failing.
    JobQueue(pool, metrics=metrics).register("licensing.issue", ok)
    for n in range(3):
        await enqueue(pool, "accounts.send_mail", {"n": n})
    await enqueue(pool, "ota.build", {})
    assert await jobs.run_due() == 4
    lines = metric_lines(metrics)
    assert 'mnwd_jobs_run_total{kind="accounts.send_mail",outcome="done"} 3.0' in lines
    assert 'mnwd_jobs_run_total{kind="ota.build",outcome="retry"} 1.0' in lines
    assert 'mnwd_job_duration_seconds_count{kind="accounts.send_mail"} 3.0' in lines
    assert "mnwd_jobs_in_flight 0.0" in lines


async def test_sweep_deletes_old_done_jobs_and_keeps_dead_ones(pool: asyncpg.Pool) -> None:
    async def ok(job: Job) -> None:
        if job.payload.get("fail"):
            raise PermanentJobError("bad payload")

    jobs = JobQueue(pool)
    jobs.register("accounts.send_mail", ok)
    for n in range(7):
        await enqueue(pool, "accounts.send_mail", {"n": n}, key=f"k{n}")
    await enqueue(pool, "accounts.send_mail", {"fail": True})
    await enqueue(pool, "accounts.send_mail", {"later": True}, run_at=datetime.now(UTC) + timedelta(days=1))
    assert await jobs.run_due() == 8
    await pool.execute("UPDATE jobs SET finished_at = now() - interval '8 days' WHERE payload->>'n' <> '6'")
    await pool.execute("UPDATE jobs SET finished_at = now() - interval '30 days' WHERE state = 'dead'")

    assert await sweep(pool, done_older_than=timedelta(days=7), batch=4) == 6
    rows = await pool.fetch("SELECT state, payload FROM jobs ORDER BY state, payload::text")
    assert [(r["state"], r["payload"]) for r in rows] == [
        ("dead", {"fail": True}),
        ("done", {"n": 6}),
        ("queued", {"later": True}),
    ]
    # The key of a swept job may be used again.
    assert await enqueue(pool, "accounts.send_mail", {"n": 0}, key="k0") is not None
    assert await enqueue(pool, "accounts.send_mail", {"n": 6}, key="k6") is None
