-- The creator platform (docs/platform.md): grandfathered tiers, multi-use invite codes, the admin audit log,
-- custom domain re-verification.

-- The tier a creator's limits come from: while grandfathered_until is ahead, the top tier (early creators
-- keep room until then); else their own, basic when unset. Read by every query that decides a limit.
CREATE FUNCTION creator_effective_tier(tier TEXT, grandfathered_until TIMESTAMPTZ) RETURNS TEXT
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN grandfathered_until IS NOT NULL AND grandfathered_until > now() THEN 'everything'
                ELSE coalesce(tier, 'basic') END
$$;

-- Invite codes may be used max_uses times; each use is a row of invite_redemptions. A use is taken by
-- UPDATE ... SET uses = uses + 1 WHERE uses < max_uses, so concurrent sign-ups never take more.
ALTER TABLE invite_codes
    ADD COLUMN max_uses INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN uses INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN note TEXT NOT NULL DEFAULT '',
    ADD CONSTRAINT invite_codes_max_uses_check CHECK (max_uses BETWEEN 1 AND 10000),
    ADD CONSTRAINT invite_codes_uses_check CHECK (uses >= 0 AND uses <= max_uses);

CREATE TABLE invite_redemptions (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    code_id      UUID NOT NULL CONSTRAINT invite_redemptions_code_id_fkey REFERENCES invite_codes (id) ON DELETE CASCADE,
    user_id      UUID NOT NULL CONSTRAINT invite_redemptions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    redeemed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invite_redemptions_user_id_key UNIQUE (user_id)
);

CREATE INDEX invite_redemptions_code_id_idx ON invite_redemptions (code_id);

-- Every admin action: who, what, on what, when. Rows outlive the admin's account (SET NULL; the name is kept).
CREATE TABLE admin_audit_log (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    admin_id        UUID CONSTRAINT admin_audit_log_admin_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    admin_username  TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    details         JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT admin_audit_log_action_format CHECK (action ~ '^[a-z_.]{1,64}$')
);

CREATE INDEX admin_audit_log_created_at_idx ON admin_audit_log (created_at DESC);
CREATE INDEX admin_audit_log_admin_id_idx ON admin_audit_log (admin_id);

-- Periodic re-verification: what the last check saw, and since when a verified domain has failed (it is
-- unverified once failing_since is older than the grace period).
ALTER TABLE custom_domains
    ADD COLUMN checked_at TIMESTAMPTZ,
    ADD COLUMN last_seen TEXT NOT NULL DEFAULT '',
    ADD COLUMN failing_since TIMESTAMPTZ;

CREATE INDEX custom_domains_checked_at_idx ON custom_domains (checked_at NULLS FIRST);
