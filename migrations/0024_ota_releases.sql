-- OTA releases beyond the 0009 tables: yanking, staged rollouts, a minimum supported version, counts.
-- (The server-held minisign key of an app lives in sync_apps.ota_public_key / ota_secret_key, 0007.)

ALTER TABLE ota_releases
    ADD COLUMN yanked_at        TIMESTAMPTZ,
    ADD COLUMN rollout_percent  SMALLINT NOT NULL DEFAULT 100,
    -- Clients below this version are told the update is required ("mandatory": true).
    ADD COLUMN min_version      TEXT,
    ADD COLUMN check_count      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN download_count   BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT ota_releases_rollout_percent_check CHECK (rollout_percent BETWEEN 0 AND 100);

-- s3_key is the blob's key (its SHA-256), kept for the shared blob store's reference check.
CREATE INDEX ota_artifacts_sha256_idx ON ota_artifacts (sha256);
