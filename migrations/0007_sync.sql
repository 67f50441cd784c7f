-- SyncKit: registered apps, user devices, wrapped E2E keys, the change log pulled by cursor, blobs.

CREATE TABLE sync_apps (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id      UUID NOT NULL CONSTRAINT sync_apps_creator_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    project_id      UUID CONSTRAINT sync_apps_project_id_fkey REFERENCES projects (id) ON DELETE SET NULL,
    item_id         UUID CONSTRAINT sync_apps_item_id_fkey REFERENCES items (id) ON DELETE SET NULL,
    name            TEXT NOT NULL,
    slug            TEXT NOT NULL,
    description     TEXT,
    -- SHA-256 of the API key; the prefix is shown in the UI to tell keys apart.
    api_key_hash    BYTEA NOT NULL,
    api_key_prefix  TEXT NOT NULL,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    redirect_uris   TEXT[] NOT NULL DEFAULT '{}',
    sync_files      BOOLEAN NOT NULL DEFAULT false,
    -- Minisign Ed25519 key pair for OTA signatures; the secret key is stored encrypted.
    ota_public_key  TEXT,
    ota_secret_key  TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_apps_slug_key UNIQUE (slug),
    CONSTRAINT sync_apps_api_key_hash_key UNIQUE (api_key_hash),
    CONSTRAINT sync_apps_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    CONSTRAINT sync_apps_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT sync_apps_api_key_hash_sha256 CHECK (octet_length(api_key_hash) = 32),
    CONSTRAINT sync_apps_ota_key_pair CHECK ((ota_public_key IS NULL) = (ota_secret_key IS NULL))
);

CREATE INDEX sync_apps_creator_id_idx ON sync_apps (creator_id);
CREATE INDEX sync_apps_project_id_idx ON sync_apps (project_id);
CREATE INDEX sync_apps_item_id_idx ON sync_apps (item_id);

CREATE TRIGGER update_sync_apps_updated_at BEFORE UPDATE ON sync_apps
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- last_mutation_id is the highest mutation id applied from this device, written in the same
-- transaction as the mutations, so a retried push applies nothing twice.
CREATE TABLE sync_devices (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id            UUID NOT NULL CONSTRAINT sync_devices_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id           UUID NOT NULL CONSTRAINT sync_devices_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    device_name       TEXT NOT NULL,
    platform          TEXT,
    last_mutation_id  BIGINT NOT NULL DEFAULT 0,
    last_seen_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_devices_app_id_user_id_device_name_key UNIQUE (app_id, user_id, device_name),
    CONSTRAINT sync_devices_device_name_not_blank CHECK (btrim(device_name) <> ''),
    CONSTRAINT sync_devices_last_mutation_id_check CHECK (last_mutation_id >= 0)
);

CREATE INDEX sync_devices_user_id_idx ON sync_devices (user_id);

CREATE TRIGGER update_sync_devices_updated_at BEFORE UPDATE ON sync_devices
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- The user's data key for an app, wrapped on the client; opaque to the server. PUT is
-- compare-and-set on key_version.
CREATE TABLE sync_keys (
    app_id         UUID NOT NULL CONSTRAINT sync_keys_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id        UUID NOT NULL CONSTRAINT sync_keys_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key_version    INTEGER NOT NULL DEFAULT 1,
    encrypted_key  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_keys_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT sync_keys_key_version_check CHECK (key_version > 0),
    CONSTRAINT sync_keys_encrypted_key_not_empty CHECK (encrypted_key <> '')
);

CREATE INDEX sync_keys_user_id_idx ON sync_keys (user_id);

CREATE TRIGGER update_sync_keys_updated_at BEFORE UPDATE ON sync_keys
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- The change log. Clients pull by cursor: seq > cursor for one (app, user). server_time is when the
-- row was written (its created_at). device_id is NULL for changes the server made itself.
CREATE TABLE sync_log (
    seq               BIGSERIAL PRIMARY KEY,
    app_id            UUID NOT NULL CONSTRAINT sync_log_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id           UUID NOT NULL CONSTRAINT sync_log_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    device_id         UUID CONSTRAINT sync_log_device_id_fkey REFERENCES sync_devices (id) ON DELETE CASCADE,
    mutation_id       BIGINT,
    table_name        TEXT NOT NULL,
    operation         TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    data              JSONB,
    client_timestamp  TIMESTAMPTZ,
    server_time       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_log_operation_check CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    CONSTRAINT sync_log_table_name_not_blank CHECK (btrim(table_name) <> ''),
    CONSTRAINT sync_log_row_id_not_blank CHECK (row_id <> ''),
    CONSTRAINT sync_log_mutation_id_check CHECK (mutation_id IS NULL OR mutation_id > 0),
    CONSTRAINT sync_log_mutation_needs_device CHECK (mutation_id IS NULL OR device_id IS NOT NULL)
);

CREATE INDEX sync_log_app_user_seq_idx ON sync_log (app_id, user_id, seq);
-- A device's mutation is logged once, whatever retries race; also the index for device deletion.
CREATE UNIQUE INDEX sync_log_device_id_mutation_id_key ON sync_log (device_id, mutation_id);
CREATE INDEX sync_log_user_id_idx ON sync_log (user_id);


-- Content-addressed files: hash is the hex SHA-256 of the bytes, deduplicated per (app, user).
CREATE TABLE sync_blobs (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id        UUID NOT NULL CONSTRAINT sync_blobs_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL CONSTRAINT sync_blobs_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    hash          TEXT NOT NULL,
    s3_key        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    content_type  TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_blobs_app_id_user_id_hash_key UNIQUE (app_id, user_id, hash),
    CONSTRAINT sync_blobs_hash_sha256 CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT sync_blobs_size_bytes_check CHECK (size_bytes >= 0)
);

CREATE INDEX sync_blobs_user_id_idx ON sync_blobs (user_id);
