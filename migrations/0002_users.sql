-- Users and authentication: accounts, passkeys, login links, sessions, 2FA backup codes, HTTP sessions.
-- Secrets are never stored: high-entropy tokens as their SHA-256 digest (32 bytes), backup codes as a
-- slow hash, the TOTP secret as ciphertext.

CREATE TABLE users (
    id                          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username                    TEXT NOT NULL,
    email                       TEXT NOT NULL,
    display_name                TEXT,
    bio                         TEXT,
    avatar_url                  TEXT,
    -- NULL for accounts that sign in only with login links or passkeys.
    password_hash               TEXT,
    email_verified              BOOLEAN NOT NULL DEFAULT false,
    totp_secret                 TEXT,
    totp_enabled                BOOLEAN NOT NULL DEFAULT false,
    failed_login_attempts       INTEGER NOT NULL DEFAULT 0,
    locked_until                TIMESTAMPTZ,
    last_login_at               TIMESTAMPTZ,
    stripe_account_id           TEXT,
    stripe_onboarding_complete  BOOLEAN NOT NULL DEFAULT false,
    stripe_customer_id          TEXT,
    can_create_projects         BOOLEAN NOT NULL DEFAULT false,
    creator_tier                TEXT,
    storage_used_bytes          BIGINT NOT NULL DEFAULT 0,
    max_file_override_bytes     BIGINT,
    grandfathered_until         TIMESTAMPTZ,
    suspended_at                TIMESTAMPTZ,
    suspension_reason           TEXT,
    is_admin                    BOOLEAN NOT NULL DEFAULT false,
    notify_sale                 BOOLEAN NOT NULL DEFAULT true,
    notify_follower             BOOLEAN NOT NULL DEFAULT true,
    notify_release              BOOLEAN NOT NULL DEFAULT true,
    notify_issues               BOOLEAN NOT NULL DEFAULT true,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9][a-z0-9_-]{1,38}$'),
    CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT users_creator_tier_check
        CHECK (creator_tier IS NULL OR creator_tier IN ('basic', 'small_files', 'big_files', 'everything')),
    CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    CONSTRAINT users_storage_used_bytes_check CHECK (storage_used_bytes >= 0),
    CONSTRAINT users_max_file_override_bytes_check
        CHECK (max_file_override_bytes IS NULL OR max_file_override_bytes > 0),
    CONSTRAINT users_totp_enabled_needs_secret CHECK (NOT totp_enabled OR totp_secret IS NOT NULL)
);

-- Email is unique whatever its case. This is also the email lookup index: look users up by
-- lower(email) = lower($1). The username index is users_username_key.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_email_verified_idx ON users (email_verified);
-- A Stripe Connect account belongs to one user.
CREATE UNIQUE INDEX users_stripe_account_id_key ON users (stripe_account_id);
CREATE UNIQUE INDEX users_stripe_customer_id_key ON users (stripe_customer_id);

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE user_passkeys (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL CONSTRAINT user_passkeys_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    credential_id    BYTEA NOT NULL,
    credential_json  JSONB NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    sign_count       BIGINT NOT NULL DEFAULT 0,
    last_used_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT user_passkeys_credential_id_key UNIQUE (credential_id),
    CONSTRAINT user_passkeys_credential_id_not_empty CHECK (octet_length(credential_id) > 0),
    CONSTRAINT user_passkeys_sign_count_check CHECK (sign_count >= 0)
);

CREATE INDEX user_passkeys_user_id_idx ON user_passkeys (user_id);

CREATE TRIGGER update_user_passkeys_updated_at BEFORE UPDATE ON user_passkeys
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Single-use links sent by email: sign-in, address verification, password reset.
CREATE TABLE login_tokens (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL CONSTRAINT login_tokens_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    purpose     TEXT NOT NULL DEFAULT 'login',
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT login_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT login_tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT login_tokens_purpose_check CHECK (purpose IN ('login', 'verify_email', 'reset_password')),
    CONSTRAINT login_tokens_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX login_tokens_user_id_idx ON login_tokens (user_id);
CREATE INDEX login_tokens_expires_at_idx ON login_tokens (expires_at);


-- Signed-in sessions, listed in the "active sessions" page.
CREATE TABLE user_sessions (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL CONSTRAINT user_sessions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    token_hash    BYTEA NOT NULL,
    user_agent    TEXT,
    ip_address    INET,
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT user_sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT user_sessions_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT user_sessions_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX user_sessions_user_id_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_at_idx ON user_sessions (expires_at);


CREATE TABLE backup_codes (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL CONSTRAINT backup_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT backup_codes_code_hash_not_empty CHECK (code_hash <> '')
);

CREATE INDEX backup_codes_user_id_idx ON backup_codes (user_id);


-- HTTP session storage (the reference system's tower_sessions.session), also for signed-out
-- visitors' CSRF tokens. Authentication itself lives in user_sessions.
CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY,
    data         JSONB NOT NULL DEFAULT '{}',
    expiry_date  TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT web_sessions_id_not_empty CHECK (id <> ''),
    CONSTRAINT web_sessions_data_is_object CHECK (jsonb_typeof(data) = 'object')
);

CREATE INDEX web_sessions_expiry_date_idx ON web_sessions (expiry_date);

CREATE TRIGGER update_web_sessions_updated_at BEFORE UPDATE ON web_sessions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
