-- The outbound mail queue (mnwd/outbound, docs/mail.md). Each mail is one row, inserted in the caller's
-- transaction together with an `outbound.send` job (mnwd/db/jobs.py) naming it; the job's worker sends it and
-- marks it sent. The message (which may hold a sign-in link) is emptied once the mail is sent or given up.
CREATE TABLE outbound_mails (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    stream           TEXT NOT NULL,
    -- The recipient's bare address (local@domain, domain in ASCII) and its domain, for suppressions and limits.
    recipient        TEXT NOT NULL,
    recipient_domain TEXT NOT NULL,
    -- {"to", "subject", "text", "html", "headers"}; '{}' once sent, failed or suppressed.
    message          JSONB NOT NULL,
    idempotency_key  TEXT,
    state            TEXT NOT NULL DEFAULT 'queued',
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ,
    CONSTRAINT outbound_mails_state_check CHECK (state IN ('queued', 'sent', 'failed', 'suppressed')),
    CONSTRAINT outbound_mails_stream_check CHECK (stream ~ '^[a-z][a-z0-9_.-]{0,49}$'),
    CONSTRAINT outbound_mails_finished_check CHECK ((state = 'queued') = (finished_at IS NULL)),
    CONSTRAINT outbound_mails_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT outbound_mails_last_error_length CHECK (length(last_error) <= 2000)
);

-- A key is used once for as long as its row exists (rows are kept 30 days after they finish).
CREATE UNIQUE INDEX outbound_mails_idempotency_key_key ON outbound_mails (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbound_mails_finished_at_idx ON outbound_mails (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX outbound_mails_recipient_lower_idx ON outbound_mails (lower(recipient));

-- Suppressions entered by an operator (`mnwd mail suppress`), beside hard bounces and complaints.
ALTER TABLE email_suppressions DROP CONSTRAINT email_suppressions_reason_check;
ALTER TABLE email_suppressions ADD CONSTRAINT email_suppressions_reason_check
    CHECK (reason IN ('HardBounce', 'SpamComplaint', 'Manual'));
