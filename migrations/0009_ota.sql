-- OTA updates (Tauri updater protocol): releases, their signed artifacts, automated build configs and runs.

CREATE TABLE ota_releases (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id        UUID NOT NULL CONSTRAINT ota_releases_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    -- Full SemVer without a leading "v", compared as SemVer by the application.
    version       TEXT NOT NULL,
    notes         TEXT,
    pub_date      TIMESTAMPTZ NOT NULL DEFAULT now(),
    channel       TEXT NOT NULL DEFAULT 'stable',
    is_published  BOOLEAN NOT NULL DEFAULT false,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ota_releases_app_id_version_key UNIQUE (app_id, version),
    CONSTRAINT ota_releases_version_semver CHECK (version ~ (
        '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)'
        '(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
    )),
    CONSTRAINT ota_releases_channel_format CHECK (channel ~ '^[a-z0-9][a-z0-9_-]{0,31}$')
);

CREATE INDEX ota_releases_app_id_channel_published_idx ON ota_releases (app_id, channel) WHERE is_published;

CREATE TRIGGER update_ota_releases_updated_at BEFORE UPDATE ON ota_releases
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Tauri v2 ships several installers per platform (AppImage, deb, rpm; msi, nsis), so an artifact is
-- unique per (release, target, arch, bundle_type); '' is "no bundle type" for v1 and v2.0 clients.
CREATE TABLE ota_artifacts (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    release_id   UUID NOT NULL CONSTRAINT ota_artifacts_release_id_fkey REFERENCES ota_releases (id) ON DELETE CASCADE,
    target       TEXT NOT NULL,
    arch         TEXT NOT NULL,
    bundle_type  TEXT NOT NULL DEFAULT '',
    file_name    TEXT,
    s3_key       TEXT NOT NULL,
    file_size    BIGINT NOT NULL,
    -- Base64 of the minisign .sig text, served byte for byte; NULL until signed (never served unsigned).
    signature    TEXT,
    sha256       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ota_artifacts_release_target_arch_bundle_type_key UNIQUE (release_id, target, arch, bundle_type),
    CONSTRAINT ota_artifacts_target_format CHECK (target ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    CONSTRAINT ota_artifacts_arch_format CHECK (arch ~ '^[a-z0-9][a-z0-9_]{0,31}$'),
    CONSTRAINT ota_artifacts_bundle_type_check
        CHECK (bundle_type IN ('', 'appimage', 'deb', 'rpm', 'app', 'msi', 'nsis')),
    CONSTRAINT ota_artifacts_file_size_check CHECK (file_size >= 0),
    CONSTRAINT ota_artifacts_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ota_artifacts_signature_not_empty CHECK (signature <> '')
);

CREATE TRIGGER update_ota_artifacts_updated_at BEFORE UPDATE ON ota_artifacts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- One build configuration per app; a push to repo_id's branch starts a build.
CREATE TABLE ota_build_configs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id            UUID NOT NULL CONSTRAINT ota_build_configs_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    repo_id           UUID NOT NULL CONSTRAINT ota_build_configs_repo_id_fkey REFERENCES git_repos (id) ON DELETE CASCADE,
    branch            TEXT NOT NULL DEFAULT 'main',
    build_command     TEXT NOT NULL,
    artifact_path     TEXT NOT NULL,
    signing_key_path  TEXT,
    targets           TEXT[] NOT NULL DEFAULT '{}',
    enabled           BOOLEAN NOT NULL DEFAULT true,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ota_build_configs_app_id_key UNIQUE (app_id),
    CONSTRAINT ota_build_configs_build_command_not_blank CHECK (btrim(build_command) <> ''),
    CONSTRAINT ota_build_configs_artifact_path_not_blank CHECK (btrim(artifact_path) <> '')
);

CREATE INDEX ota_build_configs_repo_id_idx ON ota_build_configs (repo_id);

CREATE TRIGGER update_ota_build_configs_updated_at BEFORE UPDATE ON ota_build_configs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE ota_builds (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    config_id    UUID NOT NULL CONSTRAINT ota_builds_config_id_fkey REFERENCES ota_build_configs (id) ON DELETE CASCADE,
    release_id   UUID CONSTRAINT ota_builds_release_id_fkey REFERENCES ota_releases (id) ON DELETE SET NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    commit_sha   TEXT NOT NULL,
    ref_name     TEXT NOT NULL,
    log          TEXT NOT NULL DEFAULT '',
    error        TEXT,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ota_builds_status_check CHECK (status IN ('pending', 'building', 'succeeded', 'failed')),
    -- SHA-1 or SHA-256 object names.
    CONSTRAINT ota_builds_commit_sha_format CHECK (commit_sha ~ '^([0-9a-f]{40}|[0-9a-f]{64})$'),
    CONSTRAINT ota_builds_finished_after_started
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);

CREATE INDEX ota_builds_config_id_created_at_idx ON ota_builds (config_id, created_at DESC);
CREATE INDEX ota_builds_release_id_idx ON ota_builds (release_id);
-- The build runner's queue.
CREATE INDEX ota_builds_unfinished_idx ON ota_builds (created_at) WHERE status IN ('pending', 'building');

CREATE TRIGGER update_ota_builds_updated_at BEFORE UPDATE ON ota_builds
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
