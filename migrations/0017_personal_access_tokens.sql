-- Personal access tokens: a user's own bearer tokens for the JSON API (/api/v1), with scopes from
-- mnwd.accounts.token_scopes, stored as SHA-256 only. Changes that revoke one make every daemon forget its
-- remembered token checks (mnwd_bearers_changed, migration 0014), as for OAuth tokens.

CREATE TABLE personal_access_tokens (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL CONSTRAINT personal_access_tokens_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL,
    scopes       TEXT[] NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT personal_access_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT personal_access_tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT personal_access_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT personal_access_tokens_scopes_not_empty CHECK (cardinality(scopes) > 0),
    CONSTRAINT personal_access_tokens_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX personal_access_tokens_user_id_idx ON personal_access_tokens (user_id, created_at);

CREATE TRIGGER personal_access_tokens_bearers_changed
    AFTER UPDATE ON personal_access_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.token_hash IS DISTINCT FROM NEW.token_hash OR OLD.scopes IS DISTINCT FROM NEW.scopes
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER personal_access_tokens_bearers_deleted
    AFTER DELETE ON personal_access_tokens FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();
