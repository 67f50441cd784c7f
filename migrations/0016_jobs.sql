-- The durable job queue (mnwd/db/jobs.py, docs/jobs.md). A job is enqueued by one INSERT in the caller's
-- transaction, so it exists exactly when the caller's work committed. Daemons claim due jobs with
-- UPDATE ... FOR UPDATE SKIP LOCKED and hold a lease (locked_until) while they run one; a lease that runs
-- out (daemon killed) puts the job back in the queue. Done jobs are deleted by the sweep after some days;
-- dead ones stay for inspection until someone deletes them.
CREATE TABLE jobs (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             TEXT NOT NULL,
    payload          JSONB NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL DEFAULT 'queued',
    -- Attempts started so far; the running attempt's number while running (it fences a late finisher).
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- NULL: the handler's registered default.
    max_attempts     INTEGER,
    -- When a queued job may run next.
    run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until     TIMESTAMPTZ,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    last_error       TEXT,
    idempotency_key  TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'dead')),
    CONSTRAINT jobs_kind_check CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(kind) <= 100),
    CONSTRAINT jobs_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT jobs_attempts_check CHECK (attempts >= 0),
    CONSTRAINT jobs_max_attempts_check CHECK (max_attempts IS NULL OR max_attempts BETWEEN 1 AND 1000),
    CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR locked_until IS NOT NULL),
    CONSTRAINT jobs_finished_check CHECK ((state IN ('done', 'dead')) = (finished_at IS NOT NULL)),
    CONSTRAINT jobs_last_error_length CHECK (length(last_error) <= 2000),
    CONSTRAINT jobs_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200)
);

-- A second enqueue of the same (kind, key) is a no-op for as long as the first row exists.
CREATE UNIQUE INDEX jobs_kind_idempotency_key_key ON jobs (kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The next due jobs; the claim reads it in run_at order.
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state = 'queued';
-- Leases that ran out.
CREATE INDEX jobs_running_lease_idx ON jobs (locked_until) WHERE state = 'running';
-- The sweep of old done jobs.
CREATE INDEX jobs_done_finished_at_idx ON jobs (finished_at) WHERE state = 'done';
-- Dead jobs, newest first, for people looking at them.
CREATE INDEX jobs_dead_finished_at_idx ON jobs (kind, finished_at) WHERE state = 'dead';

CREATE TRIGGER update_jobs_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
