"""SQL of the job queue (mnwd/db/jobs.py). Every state change is one statement, so none needs a transaction
of its own; a finished attempt is written only while its row is still ``running`` at that attempt number,
so a runner whose lease was taken over cannot overwrite the newer attempt's outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

# Columns of a claimed job, as `Job` reads them. The payload comes back as text, whatever JSON codec the
# connection has.
_JOB_COLUMNS = "id, kind, payload::text AS payload, attempts, max_attempts, idempotency_key, created_at"


async def insert_job(
    conn: asyncpg.Pool | asyncpg.Connection,
    kind: str,
    payload_json: str,
    key: str | None,
    run_at: datetime | None,
    max_attempts: int | None,
) -> uuid.UUID | None:
    job_id: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO jobs (kind, payload, idempotency_key, run_at, max_attempts)
        VALUES ($1, $2::text::jsonb, $3, coalesce($4, now()), $5)
        ON CONFLICT (kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
        """,
        kind,
        payload_json,
        key,
        run_at,
        max_attempts,
    )
    return job_id


async def claim_jobs(
    conn: asyncpg.Pool | asyncpg.Connection, kinds: list[str], limit: int, lease_seconds: float
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        UPDATE jobs
        SET state = 'running', attempts = attempts + 1, locked_until = now() + make_interval(secs => $3),
            started_at = now()
        WHERE id IN (
            SELECT id FROM jobs
            WHERE state = 'queued' AND run_at <= now() AND kind = ANY($1::text[])
            ORDER BY run_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {_JOB_COLUMNS}
        """,
        kinds,
        limit,
        lease_seconds,
    )
    return rows


async def requeue_expired_jobs(
    conn: asyncpg.Pool | asyncpg.Connection, kinds: list[str], max_attempts: list[int], last_error: str
) -> list[asyncpg.Record]:
    """Jobs of these kinds whose lease ran out: back to the queue, or dead when they had their last attempt.
    Rows another runner is changing are skipped, not waited for (so this never deadlocks with lease renewals)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        UPDATE jobs j
        SET state = CASE WHEN j.attempts >= coalesce(j.max_attempts, r.max_attempts) THEN 'dead' ELSE 'queued' END,
            finished_at = CASE WHEN j.attempts >= coalesce(j.max_attempts, r.max_attempts) THEN now() END,
            run_at = now(), locked_until = NULL, last_error = $3
        FROM unnest($1::text[], $2::int[]) AS r(kind, max_attempts)
        WHERE j.kind = r.kind AND j.id IN (
            SELECT id FROM jobs
            WHERE state = 'running' AND locked_until < now() AND kind = ANY($1::text[])
            FOR UPDATE SKIP LOCKED
        )
        RETURNING j.id, j.kind, j.state
        """,
        kinds,
        max_attempts,
        last_error,
    )
    return rows


async def extend_leases(
    conn: asyncpg.Pool | asyncpg.Connection, ids: list[uuid.UUID], attempts: list[int], lease_seconds: float
) -> int:
    status: str = await conn.execute(
        """
        UPDATE jobs j SET locked_until = now() + make_interval(secs => $3)
        FROM unnest($1::uuid[], $2::int[]) AS mine(id, attempts)
        WHERE j.id = mine.id AND j.attempts = mine.attempts AND j.state = 'running'
        """,
        ids,
        attempts,
        lease_seconds,
    )
    return int(status.split()[-1])


async def update_job_done(conn: asyncpg.Pool | asyncpg.Connection, job_id: uuid.UUID, attempt: int) -> bool:
    status: str = await conn.execute(
        """
        UPDATE jobs SET state = 'done', finished_at = now(), locked_until = NULL
        WHERE id = $1 AND attempts = $2 AND state = 'running'
        """,
        job_id,
        attempt,
    )
    return status == "UPDATE 1"


async def update_job_retry(
    conn: asyncpg.Pool | asyncpg.Connection, job_id: uuid.UUID, attempt: int, delay_seconds: float, error: str
) -> bool:
    status: str = await conn.execute(
        """
        UPDATE jobs SET state = 'queued', run_at = now() + make_interval(secs => $3), locked_until = NULL,
            last_error = $4
        WHERE id = $1 AND attempts = $2 AND state = 'running'
        """,
        job_id,
        attempt,
        delay_seconds,
        error,
    )
    return status == "UPDATE 1"


async def update_job_dead(conn: asyncpg.Pool | asyncpg.Connection, job_id: uuid.UUID, attempt: int, error: str) -> bool:
    status: str = await conn.execute(
        """
        UPDATE jobs SET state = 'dead', finished_at = now(), locked_until = NULL, last_error = $3
        WHERE id = $1 AND attempts = $2 AND state = 'running'
        """,
        job_id,
        attempt,
        error,
    )
    return status == "UPDATE 1"


async def release_job(conn: asyncpg.Pool | asyncpg.Connection, job_id: uuid.UUID, attempt: int, error: str) -> bool:
    """An attempt cut short by the daemon stopping: queued again at once (the attempt still counts, so the
    attempt number stays a fence against a handler that ignored its cancellation)."""
    status: str = await conn.execute(
        """
        UPDATE jobs SET state = 'queued', run_at = now(), locked_until = NULL, last_error = $3
        WHERE id = $1 AND attempts = $2 AND state = 'running'
        """,
        job_id,
        attempt,
        error,
    )
    return status == "UPDATE 1"


async def delete_done_jobs(conn: asyncpg.Pool | asyncpg.Connection, older_than_seconds: float, batch: int) -> int:
    """At most ``batch`` done jobs finished more than ``older_than_seconds`` ago (database time)."""
    status: str = await conn.execute(
        """
        DELETE FROM jobs WHERE id IN (
            SELECT id FROM jobs
            WHERE state = 'done' AND finished_at < now() - make_interval(secs => $1)
            LIMIT $2
        )
        """,
        older_than_seconds,
        batch,
    )
    return int(status.split()[-1])
