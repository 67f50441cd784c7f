-- Platform: creator vanity domains, OAuth PKCE codes, the creator onboarding pipeline (waves,
-- waitlist, invite codes), abuse reports, the media library and bulk imports.

CREATE TABLE custom_domains (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             UUID NOT NULL CONSTRAINT custom_domains_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    -- Lower-case host name; verified through a DNS TXT record carrying verification_token.
    domain              TEXT NOT NULL,
    verified            BOOLEAN NOT NULL DEFAULT false,
    verified_at         TIMESTAMPTZ,
    verification_token  TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT custom_domains_domain_key UNIQUE (domain),
    CONSTRAINT custom_domains_domain_format CHECK (
        domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$'
        AND length(domain) <= 253
    ),
    CONSTRAINT custom_domains_verification_token_not_blank CHECK (btrim(verification_token) <> ''),
    CONSTRAINT custom_domains_verified_at_matches CHECK (verified = (verified_at IS NOT NULL))
);

CREATE INDEX custom_domains_user_id_idx ON custom_domains (user_id);

CREATE TRIGGER update_custom_domains_updated_at BEFORE UPDATE ON custom_domains
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- PKCE authorization codes (S256 only): live five minutes, redeemed once by
-- UPDATE ... WHERE used_at IS NULL AND expires_at > now().
CREATE TABLE oauth_authorization_codes (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id                 UUID NOT NULL
        CONSTRAINT oauth_authorization_codes_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id                UUID NOT NULL
        CONSTRAINT oauth_authorization_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_hash              BYTEA NOT NULL,
    code_challenge         TEXT NOT NULL,
    code_challenge_method  TEXT NOT NULL DEFAULT 'S256',
    redirect_uri           TEXT NOT NULL,
    scope                  TEXT NOT NULL DEFAULT '',
    expires_at             TIMESTAMPTZ NOT NULL,
    used_at                TIMESTAMPTZ,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_authorization_codes_code_hash_key UNIQUE (code_hash),
    CONSTRAINT oauth_authorization_codes_code_hash_sha256 CHECK (octet_length(code_hash) = 32),
    -- BASE64URL(SHA256(verifier)) without padding is always 43 characters.
    CONSTRAINT oauth_authorization_codes_code_challenge_format CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
    CONSTRAINT oauth_authorization_codes_code_challenge_method_check CHECK (code_challenge_method = 'S256'),
    CONSTRAINT oauth_authorization_codes_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX oauth_authorization_codes_app_id_idx ON oauth_authorization_codes (app_id);
CREATE INDEX oauth_authorization_codes_user_id_idx ON oauth_authorization_codes (user_id);
CREATE INDEX oauth_authorization_codes_expires_at_idx ON oauth_authorization_codes (expires_at);


-- Batches in which waitlisted creators are let in.
CREATE TABLE creator_waves (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    wave_number  INTEGER NOT NULL,
    name         TEXT,
    capacity     INTEGER,
    opens_at     TIMESTAMPTZ,
    notes        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT creator_waves_wave_number_key UNIQUE (wave_number),
    CONSTRAINT creator_waves_wave_number_check CHECK (wave_number > 0),
    CONSTRAINT creator_waves_capacity_check CHECK (capacity IS NULL OR capacity > 0)
);

CREATE TRIGGER update_creator_waves_updated_at BEFORE UPDATE ON creator_waves
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE creator_waitlist (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        UUID NOT NULL CONSTRAINT creator_waitlist_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    wave_id        UUID CONSTRAINT creator_waitlist_wave_id_fkey REFERENCES creator_waves (id) ON DELETE SET NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    pitch          TEXT NOT NULL DEFAULT '',
    portfolio_url  TEXT,
    invited_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT creator_waitlist_user_id_key UNIQUE (user_id),
    CONSTRAINT creator_waitlist_status_check CHECK (status IN ('pending', 'invited', 'accepted', 'declined'))
);

CREATE INDEX creator_waitlist_wave_id_idx ON creator_waitlist (wave_id);
CREATE INDEX creator_waitlist_status_created_at_idx ON creator_waitlist (status, created_at);

CREATE TRIGGER update_creator_waitlist_updated_at BEFORE UPDATE ON creator_waitlist
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Referral codes a creator hands out; each lets one person in.
CREATE TABLE invite_codes (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id      UUID NOT NULL CONSTRAINT invite_codes_creator_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code            TEXT NOT NULL,
    redeemed_by_id  UUID CONSTRAINT invite_codes_redeemed_by_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    redeemed_at     TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invite_codes_code_key UNIQUE (code),
    CONSTRAINT invite_codes_code_format CHECK (code ~ '^[A-Za-z0-9_-]{6,64}$'),
    CONSTRAINT invite_codes_not_self_redeemed CHECK (redeemed_by_id <> creator_id),
    CONSTRAINT invite_codes_redeemed_by_needs_time CHECK (redeemed_by_id IS NULL OR redeemed_at IS NOT NULL)
);

CREATE INDEX invite_codes_creator_id_idx ON invite_codes (creator_id);
CREATE INDEX invite_codes_redeemed_by_id_idx ON invite_codes (redeemed_by_id);


-- Abuse reports. target_id is polymorphic (see target_type), so it has no FK; reporter and resolver
-- are SET NULL so a report outlives both accounts.
CREATE TABLE reports (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    reporter_id      UUID CONSTRAINT reports_reporter_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    target_type      TEXT NOT NULL,
    target_id        UUID NOT NULL,
    reason           TEXT NOT NULL,
    details          TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'open',
    resolved_by_id   UUID CONSTRAINT reports_resolved_by_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    resolved_at      TIMESTAMPTZ,
    resolution_note  TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT reports_target_type_check CHECK (target_type IN (
        'user', 'project', 'item', 'blog_post', 'collection', 'git_repo', 'issue', 'issue_comment'
    )),
    CONSTRAINT reports_reason_check CHECK (reason IN (
        'spam', 'harassment', 'copyright', 'illegal', 'malware', 'other'
    )),
    CONSTRAINT reports_status_check CHECK (status IN ('open', 'resolved', 'dismissed')),
    CONSTRAINT reports_resolved_at_matches_status CHECK ((status = 'open') = (resolved_at IS NULL))
);

CREATE INDEX reports_status_created_at_idx ON reports (status, created_at);
CREATE INDEX reports_target_idx ON reports (target_type, target_id);
CREATE INDEX reports_reporter_id_idx ON reports (reporter_id);
CREATE INDEX reports_resolved_by_id_idx ON reports (resolved_by_id);

CREATE TRIGGER update_reports_updated_at BEFORE UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- A user's images for markdown content. folder is '' (top level) or slash-separated segments.
CREATE TABLE media_files (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL CONSTRAINT media_files_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    folder        TEXT NOT NULL DEFAULT '',
    filename      TEXT NOT NULL,
    s3_key        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    width         INTEGER,
    height        INTEGER,
    alt_text      TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT media_files_user_id_folder_filename_key UNIQUE (user_id, folder, filename),
    CONSTRAINT media_files_s3_key_key UNIQUE (s3_key),
    CONSTRAINT media_files_folder_format
        CHECK (folder = '' OR folder ~ '^[A-Za-z0-9_-][A-Za-z0-9._ -]*(/[A-Za-z0-9_-][A-Za-z0-9._ -]*)*$'),
    CONSTRAINT media_files_filename_format
        CHECK (filename ~ '^[A-Za-z0-9_-][A-Za-z0-9._ -]{0,254}$'),
    CONSTRAINT media_files_size_bytes_check CHECK (size_bytes >= 0),
    CONSTRAINT media_files_dimensions_check
        CHECK ((width IS NULL OR width > 0) AND (height IS NULL OR height > 0))
);

CREATE TRIGGER update_media_files_updated_at BEFORE UPDATE ON media_files
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Bulk imports from other platforms; the row counters show progress.
CREATE TABLE import_jobs (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         UUID NOT NULL CONSTRAINT import_jobs_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    project_id      UUID CONSTRAINT import_jobs_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    source          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    upload_s3_key   TEXT,
    options         JSONB NOT NULL DEFAULT '{}',
    total_rows      INTEGER,
    processed_rows  INTEGER NOT NULL DEFAULT 0,
    failed_rows     INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT import_jobs_source_check CHECK (source IN ('patreon', 'kofi', 'gumroad')),
    CONSTRAINT import_jobs_status_check CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'canceled')),
    CONSTRAINT import_jobs_processed_rows_check CHECK (processed_rows >= 0 AND failed_rows >= 0),
    -- Also keeps total_rows from going negative.
    CONSTRAINT import_jobs_progress_within_total
        CHECK (total_rows IS NULL OR processed_rows + failed_rows <= total_rows)
);

CREATE INDEX import_jobs_user_id_created_at_idx ON import_jobs (user_id, created_at DESC);
CREATE INDEX import_jobs_project_id_idx ON import_jobs (project_id);
CREATE INDEX import_jobs_unfinished_idx ON import_jobs (created_at) WHERE status IN ('pending', 'running');

CREATE TRIGGER update_import_jobs_updated_at BEFORE UPDATE ON import_jobs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
