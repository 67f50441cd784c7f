"""A durable job queue in PostgreSQL: work that must happen after a commit and survive a crash.

Interface::

    job_id = await enqueue(tx.conn, "accounts.send_mail", {"user_id": str(user_id)}, key=f"welcome:{user_id}")
    tx.after_commit(jobs.wake)                      # optional: run it now rather than at the next poll

    jobs = JobQueue(pool, metrics=metrics)
    jobs.register("accounts.send_mail", send_mail)  # async def send_mail(job: Job) -> None
    await jobs.start()                              # the loop: claims due jobs, runs them, polls every few seconds
    await jobs.stop()                               # waits for jobs in flight, then gives the rest back
    await jobs.run_due(limit)                       # one pass without the loop (tests, CLI)
    await sweep(pool)                               # deletes done jobs older than a week

Guarantees:

- **Enqueue is exactly-once with the caller's commit.** `enqueue` is one INSERT on the caller's connection: the
  job exists if and only if the caller's transaction commits. With an idempotency ``key``, a second enqueue of
  the same ``(kind, key)`` is a no-op returning ``None`` for as long as the first row exists (done rows are
  kept `sweep`'s ``done_older_than``, dead rows until deleted). Two transactions enqueueing the same key at
  once: the second waits for the first to end, then inserts nothing (or inserts, if the first rolled back).
- **Execution is at-least-once.** A job runs until its handler returns once. Handlers must be idempotent: a
  daemon killed (``kill -9``, power loss) while a handler runs, or after the handler returned but before
  ``done`` was written, leaves the row ``running`` with a lease (``locked_until``); when the lease runs out,
  any daemon that knows the kind puts it back in the queue and runs it again. That lost attempt counts, so a
  job that kills its daemon every time ends ``dead`` after ``max_attempts``. A running daemon renews the
  leases of its jobs in flight, so a long job (a build) is not taken over while it runs.
- **Failures.** A handler that raises is retried after an exponential backoff with jitter (``run_at``), its
  error's last traceback line kept in ``last_error``; after ``max_attempts`` attempts the job is ``dead``.
  `PermanentJobError` sends it to ``dead`` at once. Dead jobs stay for people to look at (docs/jobs.md).
- **Ordering is not promised.** Jobs are claimed in ``run_at`` order, but run concurrently, retried later, and
  claimed by several daemons at once.
- **Unknown kinds are left alone**: a daemon claims and reaps only the kinds registered with it, so a daemon of
  another version running beside it keeps its own.

Races handled:

- Two daemons claiming at once: the claim is one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``,
  so each due job is taken by exactly one of them and neither waits for the other.
- A daemon finishing an attempt whose lease another daemon already took over: every finishing write is fenced
  on ``(id, attempts, state = 'running')``, so the stale runner writes nothing and counts the outcome
  ``lost``; the newer attempt's outcome stands.
- Two daemons reaping the same expired lease: the reap skips locked rows and re-checks the state, so a job is
  put back once.
- A wake-up arriving while the loop is claiming: the loop clears its event before it claims, so the wake-up
  makes it claim again instead of being lost. No LISTEN/NOTIFY: NOTIFY takes a database-wide lock at commit,
  which would serialise every transaction that enqueues; other daemons find the job at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import traceback
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mnwd.db import job_queries as queries
from mnwd.errors import MnwdError
from mnwd.metrics import Metrics

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "Backoff",
    "Handler",
    "Job",
    "JobQueue",
    "PermanentJobError",
    "enqueue",
    "sweep",
]

log = logging.getLogger(__name__)

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_KIND_LENGTH = 100
MAX_KEY_LENGTH = 200
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ERROR_LENGTH = 1000
DEFAULT_MAX_ATTEMPTS = 5
# A JSON \u0000 escape (jsonb refuses it), not one preceded by an escaped backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class PermanentJobError(MnwdError):
    """Raised by a handler for a job that can never succeed (its user is gone, its payload is wrong): the job
    goes to ``dead`` at once instead of being retried."""


@dataclass(frozen=True)
class Job:
    """One attempt at a job, as its handler receives it. ``attempt`` counts from 1."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    key: str | None
    created_at: datetime

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Seconds before retry number ``attempt`` (1 after the first failure): ``base * factor ** (attempt - 1)``,
    at most ``cap``, minus a random part of up to ``jitter`` of it so that jobs failing together spread out."""

    base: float = 10.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.5

    def __call__(self, attempt: int) -> float:
        delay = min(self.cap, self.base * self.factor ** max(attempt - 1, 0))
        return delay * (1 - self.jitter * random.random())


@dataclass(frozen=True)
class _Registration:
    handler: Handler
    max_attempts: int
    backoff: Callable[[int], float]


def _validate_kind(kind: str) -> None:
    if not isinstance(kind, str) or len(kind) > MAX_KIND_LENGTH or not KIND_PATTERN.match(kind):
        raise ValueError(f"job kind {kind!r} is not like 'domain.verb' (lowercase, dotted, at most 100 characters)")


def _encode_payload(kind: str, payload: dict[str, Any]) -> str:
    if not isinstance(payload, dict):
        raise TypeError(f"payload of job {kind} must be a dict, not {type(payload).__name__}")
    try:
        text = orjson.dumps(payload).decode()
    except TypeError as exc:
        raise TypeError(f"payload of job {kind} is not JSON: {exc}") from None
    if len(text) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of job {kind} is {len(text)} bytes of JSON, more than {MAX_PAYLOAD_BYTES}")
    if _JSON_NUL.search(text):
        raise ValueError(f"payload of job {kind} holds a NUL character, which PostgreSQL cannot store")
    return text


async def enqueue(
    conn: asyncpg.Connection | asyncpg.Pool,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> uuid.UUID | None:
    """Add a job in ``conn``'s transaction; its id, or ``None`` when ``(kind, key)`` is already queued or kept.

    ``payload`` is a dict of what JSON carries (UUIDs and datetimes arrive in the handler as strings).
    ``run_at`` (aware) delays the first run; ``max_attempts`` overrides the handler's registered default.
    """
    _validate_kind(kind)
    text = _encode_payload(kind, payload)
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH or "\x00" in key):
        raise ValueError(f"idempotency key of job {kind} must be 1 to {MAX_KEY_LENGTH} characters, without NUL")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError(f"run_at of job {kind} must carry a time zone")
    if max_attempts is not None and not 1 <= max_attempts <= 1000:
        raise ValueError(f"max_attempts of job {kind} must be between 1 and 1000")
    return await queries.insert_job(conn, kind, text, key, run_at, max_attempts)


async def sweep(pool: asyncpg.Pool, *, done_older_than: timedelta = timedelta(days=7), batch: int = 5000) -> int:
    """Delete done jobs finished more than ``done_older_than`` ago, ``batch`` rows per statement so no statement
    holds many locks for long. Dead jobs are kept. Returns the number deleted."""
    deleted = 0
    while True:
        count = await queries.delete_done_jobs(pool, done_older_than.total_seconds(), batch)
        deleted += count
        if count < batch:
            return deleted


def _describe(exc: BaseException) -> str:
    """The last line of the traceback ("ValueError: bad address"), bounded and storable as text."""
    line = traceback.format_exception_only(type(exc), exc)[0].strip().replace("\x00", "\\x00")
    if len(line) > MAX_ERROR_LENGTH:
        line = line[: MAX_ERROR_LENGTH - 1] + "…"
    return line


class _JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "mnwd_jobs_run",
            "Job attempts finished, by kind and outcome (done, retry, dead, lost, interrupted, expired)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "mnwd_job_duration_seconds",
            "Time a job handler ran, by kind",
            ["kind"],
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
        )
        self.in_flight = Gauge("mnwd_jobs_in_flight", "Jobs running in this daemon now", registry=registry)


# One set of job metrics per registry, however many queues report to it.
_metrics_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _JobMetrics] = weakref.WeakKeyDictionary()


def _job_metrics(metrics: Metrics | None) -> _JobMetrics | None:
    if metrics is None:
        return None
    found = _metrics_by_registry.get(metrics.registry)
    if found is None:
        found = _metrics_by_registry[metrics.registry] = _JobMetrics(metrics.registry)
    return found


class JobQueue:
    """Runs the jobs of the kinds registered with it; one per daemon.

    ``concurrency`` jobs run at once; the loop looks for due jobs when woken and every ``poll_interval``
    seconds. A claimed job holds a lease of ``lease`` seconds, renewed every third of it while it runs.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        metrics: Metrics | None = None,
        concurrency: int = 4,
        poll_interval: float = 5.0,
        lease: float = 60.0,
    ) -> None:
        if concurrency < 1 or poll_interval <= 0 or lease <= 0:
            raise ValueError("concurrency, poll_interval and lease must be positive")
        self._pool = pool
        self._metrics = _job_metrics(metrics)
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._lease = lease
        self._handlers: dict[str, _Registration] = {}
        self._in_flight: dict[uuid.UUID, tuple[Job, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._next_reap = 0.0

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: Callable[[int], float] | None = None,
    ) -> None:
        """Run jobs of ``kind`` with ``handler``. ``max_attempts`` applies to jobs enqueued without their own;
        ``backoff(attempt)`` gives the seconds before the next attempt after attempt number ``attempt`` failed."""
        _validate_kind(kind)
        if kind in self._handlers:
            raise ValueError(f"job kind {kind} is already registered")
        if not 1 <= max_attempts <= 1000:
            raise ValueError("max_attempts must be between 1 and 1000")
        self._handlers[kind] = _Registration(handler, max_attempts, backoff or Backoff())

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def wake(self) -> None:
        """Tell the loop a job was enqueued (after the commit: ``tx.after_commit(jobs.wake)``)."""
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is not None:
            raise RuntimeError("the job queue is already running")
        self._loop_task = asyncio.create_task(self._run_loop(), name="mnwd-jobs")
        self._lease_task = asyncio.create_task(self._renew_leases(), name="mnwd-jobs-leases")

    async def stop(self, grace: float = 30.0) -> None:
        """Stop claiming; wait up to ``grace`` seconds for the jobs in flight, then cancel the others and put
        them back in the queue, to be run again by the next daemon."""
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        if self._in_flight:
            await asyncio.wait([task for _, task in self._in_flight.values()], timeout=grace)
        cut_short = list(self._in_flight.values())
        for _, task in cut_short:
            task.cancel()
        if cut_short:
            await asyncio.wait([task for _, task in cut_short], timeout=5.0)
        lease_task, self._lease_task = self._lease_task, None
        if lease_task is not None:
            lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease_task
        for job, _ in cut_short:
            try:
                released = await queries.release_job(self._pool, job.id, job.attempt, "interrupted: daemon stopped")
            except Exception:
                log.exception("job not released; its lease will run out", extra=self._log_extra(job))
                continue
            if released:
                self._count(job.kind, "interrupted")

    async def run_due(self, limit: int = 100) -> int:
        """Claim up to ``limit`` due jobs, run them concurrently, and return how many ran."""
        await self._requeue_expired()
        jobs = await self._claim(limit)
        await asyncio.gather(*(self._spawn(job) for job in jobs))
        return len(jobs)

    async def _run_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                if time.monotonic() >= self._next_reap:
                    self._next_reap = time.monotonic() + self._poll_interval
                    await self._requeue_expired()
                free = self._concurrency - len(self._in_flight)
                if free > 0:
                    for job in await self._claim(free):
                        self._spawn(job)
            except Exception:
                log.exception("claiming jobs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            if not self._in_flight:
                continue
            jobs = [job for job, _ in self._in_flight.values()]
            try:
                await queries.extend_leases(self._pool, [j.id for j in jobs], [j.attempt for j in jobs], self._lease)
            except Exception:
                log.exception("renewing job leases failed")

    async def _requeue_expired(self) -> None:
        if not self._handlers:
            return
        kinds = list(self._handlers)
        rows = await queries.requeue_expired_jobs(
            self._pool,
            kinds,
            [self._handlers[k].max_attempts for k in kinds],
            "lease expired: the daemon running it stopped or lost the database",
        )
        for row in rows:
            log.warning("job lease expired", extra={"job": str(row["id"]), "kind": row["kind"], "state": row["state"]})
            self._count(row["kind"], "expired")

    async def _claim(self, limit: int) -> list[Job]:
        if not self._handlers or limit < 1:
            return []
        rows = await queries.claim_jobs(self._pool, list(self._handlers), limit, self._lease)
        return [
            Job(
                id=row["id"],
                kind=row["kind"],
                payload=orjson.loads(row["payload"]),
                attempt=row["attempts"],
                max_attempts=row["max_attempts"] or self._handlers[row["kind"]].max_attempts,
                key=row["idempotency_key"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def _spawn(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._execute(job), name=f"mnwd-job-{job.kind}")
        self._in_flight[job.id] = (job, task)
        if self._metrics is not None:
            self._metrics.in_flight.inc()
        task.add_done_callback(lambda _: self._forget(job))
        return task

    def _forget(self, job: Job) -> None:
        self._in_flight.pop(job.id, None)
        if self._metrics is not None:
            self._metrics.in_flight.dec()
        self._wake.set()

    async def _execute(self, job: Job) -> None:
        registration = self._handlers[job.kind]
        started = time.monotonic()
        try:
            await registration.handler(job)
        except PermanentJobError as exc:
            log.warning("job failed for good", extra=self._log_extra(job), exc_info=True)
            await self._finish(job, "dead", queries.update_job_dead(self._pool, job.id, job.attempt, _describe(exc)))
        except Exception as exc:
            if job.last_attempt:
                log.error("job failed its last attempt", extra=self._log_extra(job), exc_info=True)
                finish = queries.update_job_dead(self._pool, job.id, job.attempt, _describe(exc))
                await self._finish(job, "dead", finish)
            else:
                delay = max(0.0, registration.backoff(job.attempt))
                log.warning("job failed; retried later", extra=self._log_extra(job, delay=delay), exc_info=True)
                finish = queries.update_job_retry(self._pool, job.id, job.attempt, delay, _describe(exc))
                await self._finish(job, "retry", finish)
        else:
            await self._finish(job, "done", queries.update_job_done(self._pool, job.id, job.attempt))
        finally:
            if self._metrics is not None:
                self._metrics.duration.labels(job.kind).observe(time.monotonic() - started)

    async def _finish(self, job: Job, outcome: str, write: Awaitable[bool]) -> None:
        try:
            written = await write
        except Exception:
            # The row stays running; its lease runs out and the job is run again.
            log.exception("job outcome not written", extra=self._log_extra(job, outcome=outcome))
            return
        if not written:
            log.warning("job lease was lost before it finished", extra=self._log_extra(job, outcome=outcome))
            outcome = "lost"
        self._count(job.kind, outcome)

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.runs.labels(kind, outcome).inc()

    @staticmethod
    def _log_extra(job: Job, **more: object) -> dict[str, object]:
        return {"job": str(job.id), "kind": job.kind, "attempt": job.attempt, **more}
