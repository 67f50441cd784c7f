-- OAuth for SyncKit apps: remembered consent, grants (one per authorization, the "family" of every
-- token issued from it), and the access and refresh tokens, stored as SHA-256 only.

CREATE TABLE oauth_consents (
    user_id     UUID NOT NULL CONSTRAINT oauth_consents_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    app_id      UUID NOT NULL CONSTRAINT oauth_consents_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_consents_pkey PRIMARY KEY (user_id, app_id)
);

CREATE INDEX oauth_consents_app_id_idx ON oauth_consents (app_id);

CREATE TABLE oauth_grants (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id      UUID NOT NULL CONSTRAINT oauth_grants_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL CONSTRAINT oauth_grants_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_id     UUID CONSTRAINT oauth_grants_code_id_fkey
        REFERENCES oauth_authorization_codes (id) ON DELETE SET NULL,
    device_id   UUID CONSTRAINT oauth_grants_device_id_fkey REFERENCES sync_devices (id) ON DELETE SET NULL,
    scope       TEXT NOT NULL DEFAULT '',
    revoked_at  TIMESTAMPTZ,
    revoke_reason TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    CONSTRAINT oauth_grants_code_id_key UNIQUE (code_id)
);

CREATE INDEX oauth_grants_app_id_idx ON oauth_grants (app_id);
CREATE INDEX oauth_grants_user_id_idx ON oauth_grants (user_id);
CREATE INDEX oauth_grants_device_id_idx ON oauth_grants (device_id);

CREATE TABLE oauth_access_tokens (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    grant_id    UUID NOT NULL CONSTRAINT oauth_access_tokens_grant_id_fkey REFERENCES oauth_grants (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_access_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT oauth_access_tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT oauth_access_tokens_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX oauth_access_tokens_grant_id_idx ON oauth_access_tokens (grant_id);
CREATE INDEX oauth_access_tokens_expires_at_idx ON oauth_access_tokens (expires_at);

-- A refresh token is used once: redeeming it sets used_at and issues the next one of the family.
-- Presenting a used one again means it leaked, and the whole grant is revoked.
CREATE TABLE oauth_refresh_tokens (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    grant_id    UUID NOT NULL CONSTRAINT oauth_refresh_tokens_grant_id_fkey REFERENCES oauth_grants (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT oauth_refresh_tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT oauth_refresh_tokens_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX oauth_refresh_tokens_grant_id_idx ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_expires_at_idx ON oauth_refresh_tokens (expires_at);
