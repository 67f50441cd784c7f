-- License keys (docs/licensing.md): what 0005 left out. Keys are looked up by the SHA-256 of their
-- normalised text (key_hash); key_code holds the key encrypted with the server's keyring (shown to its
-- buyer), never the clear text. Each key keeps a copy of its item's policy as it was when it was issued.

ALTER TABLE license_keys
    ALTER COLUMN owner_id DROP NOT NULL,
    ALTER COLUMN max_activations DROP DEFAULT,
    ADD COLUMN key_hash           BYTEA,
    ADD COLUMN key_last           TEXT,
    ADD COLUMN status             TEXT NOT NULL DEFAULT 'active',
    ADD COLUMN source             TEXT NOT NULL DEFAULT 'purchase',
    ADD COLUMN issued_to_email    TEXT,
    ADD COLUMN expires_at         TIMESTAMPTZ,
    ADD COLUMN floating           BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN heartbeat_seconds  INTEGER NOT NULL DEFAULT 600,
    ADD COLUMN entitlements       TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN updates_until      TIMESTAMPTZ,
    ADD COLUMN last_swap_at       TIMESTAMPTZ,
    ADD COLUMN revoked_by_refund  BOOLEAN NOT NULL DEFAULT false,
    ADD CONSTRAINT license_keys_status_check CHECK (status IN ('active', 'suspended', 'revoked')),
    ADD CONSTRAINT license_keys_source_check CHECK (source IN ('purchase', 'comp', 'bulk')),
    ADD CONSTRAINT license_keys_heartbeat_seconds_check CHECK (heartbeat_seconds BETWEEN 60 AND 86400);

-- Rows from before this migration have no hash: nothing wrote license keys yet, so there are none.
DELETE FROM license_keys WHERE key_hash IS NULL;
ALTER TABLE license_keys ALTER COLUMN key_hash SET NOT NULL;
ALTER TABLE license_keys ADD CONSTRAINT license_keys_key_hash_key UNIQUE (key_hash);

-- Exactly one key per purchase, whichever job run or daemon gets there first.
DROP INDEX license_keys_transaction_id_idx;
CREATE UNIQUE INDEX license_keys_transaction_id_key ON license_keys (transaction_id) WHERE transaction_id IS NOT NULL;

ALTER TABLE license_activations
    ADD COLUMN platform          TEXT,
    ADD COLUMN app_version       TEXT,
    ADD COLUMN lease_expires_at  TIMESTAMPTZ;

-- The buyer page's "least recently seen" and the lease sweep.
CREATE INDEX license_activations_key_last_seen_idx ON license_activations (license_key_id, last_seen_at);
CREATE INDEX license_activations_lease_idx ON license_activations (lease_expires_at) WHERE lease_expires_at IS NOT NULL;


-- An item's license policy, copied into each key it issues. expiry: none, a fixed date, or a duration
-- counted from the purchase.
CREATE TABLE license_policies (
    item_id            UUID PRIMARY KEY CONSTRAINT license_policies_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    max_activations    INTEGER DEFAULT 3,
    expiry             TEXT NOT NULL DEFAULT 'none',
    expires_at         TIMESTAMPTZ,
    duration_days      INTEGER,
    floating           BOOLEAN NOT NULL DEFAULT false,
    heartbeat_seconds  INTEGER NOT NULL DEFAULT 600,
    entitlements       TEXT[] NOT NULL DEFAULT '{}',
    updates_days       INTEGER,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT license_policies_max_activations_check CHECK (max_activations IS NULL OR max_activations BETWEEN 1 AND 10000),
    CONSTRAINT license_policies_expiry_check CHECK (
        (expiry = 'none' AND expires_at IS NULL AND duration_days IS NULL)
        OR (expiry = 'fixed' AND expires_at IS NOT NULL AND duration_days IS NULL)
        OR (expiry = 'duration' AND expires_at IS NULL AND duration_days BETWEEN 1 AND 36500)
    ),
    CONSTRAINT license_policies_heartbeat_seconds_check CHECK (heartbeat_seconds BETWEEN 60 AND 86400),
    CONSTRAINT license_policies_updates_days_check CHECK (updates_days IS NULL OR updates_days BETWEEN 1 AND 36500)
);

CREATE TRIGGER update_license_policies_updated_at BEFORE UPDATE ON license_policies
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Ed25519 keys signing offline license files. The private key is encrypted with the server's keyring; the
-- current key is the one not retired; retired keys stay listed so files they signed still verify.
CREATE TABLE license_signing_keys (
    kid          TEXT PRIMARY KEY,
    public_key   BYTEA NOT NULL,
    private_key  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at   TIMESTAMPTZ,
    CONSTRAINT license_signing_keys_public_key_length CHECK (length(public_key) = 32)
);

CREATE UNIQUE INDEX license_signing_keys_one_current ON license_signing_keys ((true)) WHERE retired_at IS NULL;
