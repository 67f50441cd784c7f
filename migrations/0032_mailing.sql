-- Mailing lists (mnwd/mailing): a subscriber's state and where its consent came from, the pending
-- confirmation of a double opt-in, an import's upload and preview, and broadcasts with one row per recipient.

-- A subscriber is pending (no confirmed_at), confirmed, or unsubscribed (unsubscribed_at set; the row is kept
-- so that an import never subscribes them again). consent_source says how they came: 'signup' (the public
-- form or API, confirmed by double opt-in), 'manual' (added by the creator), 'import' (a CSV from another
-- platform); consent keeps the provenance (import id, file, row, time; or the signup's time).
ALTER TABLE mailing_list_subscribers
    ADD COLUMN unsubscribed_at     TIMESTAMPTZ,
    ADD COLUMN confirm_token_hash  BYTEA,
    ADD COLUMN consent_source      TEXT NOT NULL DEFAULT 'manual',
    ADD COLUMN consent             JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN name                TEXT,
    ADD CONSTRAINT mailing_list_subscribers_consent_source_check
        CHECK (consent_source IN ('signup', 'manual', 'import'));

CREATE UNIQUE INDEX mailing_list_subscribers_confirm_token_hash_key
    ON mailing_list_subscribers (confirm_token_hash) WHERE confirm_token_hash IS NOT NULL;
-- A broadcast walks a list's subscribers in id order, from where it stopped.
CREATE INDEX mailing_list_subscribers_list_id_id_idx ON mailing_list_subscribers (list_id, id);

-- An import names its list, keeps the uploaded file until it has run (upload), the creator's column mapping
-- (options) and the preview's counts (preview).
ALTER TABLE import_jobs
    ADD COLUMN list_id    UUID CONSTRAINT import_jobs_list_id_fkey REFERENCES mailing_lists (id) ON DELETE CASCADE,
    ADD COLUMN file_name  TEXT,
    ADD COLUMN upload     BYTEA,
    ADD COLUMN preview    JSONB NOT NULL DEFAULT '{}';

CREATE INDEX import_jobs_list_id_idx ON import_jobs (list_id);


CREATE TABLE mailing_broadcasts (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    list_id            UUID NOT NULL
        CONSTRAINT mailing_broadcasts_list_id_fkey REFERENCES mailing_lists (id) ON DELETE CASCADE,
    author_id          UUID CONSTRAINT mailing_broadcasts_author_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    subject            TEXT NOT NULL,
    body_markdown      TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'draft',
    scheduled_at       TIMESTAMPTZ,
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    -- The last subscriber (by id) the fan-out queued: a fan-out re-run after a crash goes on from there.
    cursor_subscriber  UUID,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT mailing_broadcasts_status_check CHECK (status IN ('draft', 'scheduled', 'sending', 'sent')),
    CONSTRAINT mailing_broadcasts_subject_check CHECK (btrim(subject) <> '' AND length(subject) <= 200)
);

CREATE INDEX mailing_broadcasts_list_id_idx ON mailing_broadcasts (list_id, created_at DESC);
CREATE INDEX mailing_broadcasts_author_id_idx ON mailing_broadcasts (author_id);

CREATE TRIGGER update_mailing_broadcasts_updated_at BEFORE UPDATE ON mailing_broadcasts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- One row per (broadcast, subscriber), written in the transaction that queues that subscriber's mail: the
-- primary key is what makes a fan-out re-run after a crash mail nobody twice. mail_id is the queued mail.
CREATE TABLE mailing_broadcast_recipients (
    broadcast_id   UUID NOT NULL
        CONSTRAINT mailing_broadcast_recipients_broadcast_id_fkey REFERENCES mailing_broadcasts (id) ON DELETE CASCADE,
    subscriber_id  UUID NOT NULL,
    mail_id        UUID,
    queued_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT mailing_broadcast_recipients_pkey PRIMARY KEY (broadcast_id, subscriber_id)
);

-- An unsubscribe through a broadcast's link counts for that broadcast.
ALTER TABLE mailing_list_subscribers
    ADD COLUMN unsubscribed_broadcast_id UUID
        CONSTRAINT mailing_list_subscribers_unsubscribed_broadcast_id_fkey
        REFERENCES mailing_broadcasts (id) ON DELETE SET NULL;
CREATE INDEX mailing_list_subscribers_unsubscribed_broadcast_id_idx
    ON mailing_list_subscribers (unsubscribed_broadcast_id) WHERE unsubscribed_broadcast_id IS NOT NULL;
