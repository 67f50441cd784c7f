-- Accounts: TOTP replay protection, password change time, and fixed-window rate limit counters.

ALTER TABLE users
    ADD COLUMN totp_last_used_step BIGINT,
    ADD COLUMN password_changed_at TIMESTAMPTZ,
    ADD CONSTRAINT users_totp_last_used_step_check CHECK (totp_last_used_step IS NULL OR totp_last_used_step >= 0);

-- One row per (bucket, window): hits counted with INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so the
-- count is exact across daemons. Old windows are deleted by the periodic sweep.
CREATE TABLE rate_limits (
    bucket        TEXT NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    hits          INTEGER NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT rate_limits_pkey PRIMARY KEY (bucket, window_start),
    CONSTRAINT rate_limits_hits_check CHECK (hits > 0),
    CONSTRAINT rate_limits_bucket_not_empty CHECK (bucket <> '')
);

CREATE INDEX rate_limits_window_start_idx ON rate_limits (window_start);
