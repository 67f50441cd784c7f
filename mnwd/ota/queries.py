"""SQL of the OTA domain. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

RELEASE_COLUMNS = (
    "id, app_id, version, notes, pub_date, channel, is_published, yanked_at, rollout_percent, min_version, "
    "check_count, download_count, created_at, updated_at"
)
ARTIFACT_COLUMNS = "id, release_id, target, arch, bundle_type, file_name, file_size, signature, sha256, created_at"


# Signing keys (sync_apps.ota_public_key / ota_secret_key)


async def get_signing_key(conn: Conn, app_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT ota_public_key, ota_secret_key FROM sync_apps WHERE id = $1", app_id)


async def set_signing_key_if_none(conn: Conn, app_id: uuid.UUID, public_key: str, sealed_secret: str) -> bool:
    """Store the pair unless the app has one already; True if stored."""
    status: str = await conn.execute(
        """
        UPDATE sync_apps SET ota_public_key = $2, ota_secret_key = $3
        WHERE id = $1 AND ota_public_key IS NULL
        """,
        app_id,
        public_key,
        sealed_secret,
    )
    return status == "UPDATE 1"


# Releases


async def insert_release(
    conn: Conn,
    app_id: uuid.UUID,
    *,
    version: str,
    notes: str | None,
    channel: str,
    rollout_percent: int,
    min_version: str | None,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        INSERT INTO ota_releases (app_id, version, notes, channel, rollout_percent, min_version)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {RELEASE_COLUMNS}
        """,
        app_id,
        version,
        notes,
        channel,
        rollout_percent,
        min_version,
    )
    return row


async def get_release(conn: Conn, app_id: uuid.UUID, version: str, *, lock: bool = False) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {RELEASE_COLUMNS} FROM ota_releases WHERE app_id = $1 AND version = $2{suffix}", app_id, version
    )


async def list_releases(conn: Conn, app_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {RELEASE_COLUMNS} FROM ota_releases WHERE app_id = $1 ORDER BY created_at DESC", app_id
        )
    )


async def publish_release(conn: Conn, release_id: uuid.UUID) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        UPDATE ota_releases SET is_published = true, yanked_at = NULL, pub_date = now()
        WHERE id = $1 RETURNING {RELEASE_COLUMNS}
        """,
        release_id,
    )
    return row


async def yank_release(conn: Conn, release_id: uuid.UUID) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"UPDATE ota_releases SET yanked_at = coalesce(yanked_at, now()) WHERE id = $1 RETURNING {RELEASE_COLUMNS}",
        release_id,
    )
    return row


async def set_rollout(
    conn: Conn, release_id: uuid.UUID, rollout_percent: int | None, min_version: str | None, set_min: bool
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        UPDATE ota_releases SET rollout_percent = coalesce($2, rollout_percent),
            min_version = CASE WHEN $4 THEN $3 ELSE min_version END
        WHERE id = $1 RETURNING {RELEASE_COLUMNS}
        """,
        release_id,
        rollout_percent,
        min_version,
        set_min,
    )
    return row


async def delete_release(conn: Conn, release_id: uuid.UUID) -> list[str]:
    """Deletes the release and its artifacts; the hashes of the bytes they named."""
    hashes = await conn.fetch("SELECT DISTINCT sha256 FROM ota_artifacts WHERE release_id = $1", release_id)
    await conn.execute("DELETE FROM ota_releases WHERE id = $1", release_id)
    return [row["sha256"] for row in hashes]


async def add_checks(conn: Conn, release_id: uuid.UUID, count: int) -> None:
    await conn.execute("UPDATE ota_releases SET check_count = check_count + $2 WHERE id = $1", release_id, count)


async def count_download(conn: Conn, release_id: uuid.UUID) -> None:
    await conn.execute("UPDATE ota_releases SET download_count = download_count + 1 WHERE id = $1", release_id)


# Artifacts


async def upsert_artifact(
    conn: Conn,
    release_id: uuid.UUID,
    *,
    target: str,
    arch: str,
    bundle_type: str,
    file_name: str | None,
    sha256: str,
    size: int,
    signature: str | None,
) -> tuple[asyncpg.Record, str | None]:
    """The artifact row for (target, arch, bundle_type), replacing an earlier upload; the replaced bytes' hash."""
    old: str | None = await conn.fetchval(
        """
        SELECT sha256 FROM ota_artifacts WHERE release_id = $1 AND target = $2 AND arch = $3 AND bundle_type = $4
        FOR UPDATE
        """,
        release_id,
        target,
        arch,
        bundle_type,
    )
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        INSERT INTO ota_artifacts
            (release_id, target, arch, bundle_type, file_name, s3_key, file_size, signature, sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6)
        ON CONFLICT (release_id, target, arch, bundle_type) DO UPDATE SET
            file_name = excluded.file_name, s3_key = excluded.s3_key, file_size = excluded.file_size,
            signature = excluded.signature, sha256 = excluded.sha256
        RETURNING {ARTIFACT_COLUMNS}
        """,
        release_id,
        target,
        arch,
        bundle_type,
        file_name,
        sha256,
        size,
        signature,
    )
    return row, (old if old != sha256 else None)


async def lock_owner_ota_usage(conn: Conn, creator_id: uuid.UUID) -> asyncpg.Record | None:
    """The app owner's effective tier, largest-file override and the bytes of all their apps' artifacts; the
    user row stays locked until the transaction ends, so concurrent uploads are counted one after the other."""
    return await conn.fetchrow(
        "SELECT creator_effective_tier(u.creator_tier, u.grandfathered_until) AS tier, u.max_file_override_bytes, "
        "(SELECT coalesce(sum(a.file_size), 0) FROM ota_artifacts a JOIN ota_releases r ON r.id = a.release_id "
        " JOIN sync_apps s ON s.id = r.app_id WHERE s.creator_id = u.id) AS used "
        "FROM users u WHERE u.id = $1 FOR UPDATE",
        creator_id,
    )


async def list_artifacts(conn: Conn, release_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {ARTIFACT_COLUMNS} FROM ota_artifacts WHERE release_id = ANY($1::uuid[]) ORDER BY created_at",
            release_ids,
        )
    )


async def get_artifact(conn: Conn, artifact_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        SELECT {", ".join("a." + c.strip() for c in ARTIFACT_COLUMNS.split(","))}, r.app_id, r.is_published,
            r.yanked_at
        FROM ota_artifacts a JOIN ota_releases r ON r.id = a.release_id WHERE a.id = $1
        """,
        artifact_id,
    )


async def list_served_releases(conn: Conn, app_id: uuid.UUID, channel: str) -> list[asyncpg.Record]:
    """Published, not yanked releases of a channel (the update check's candidates)."""
    return list(
        await conn.fetch(
            f"""
            SELECT {RELEASE_COLUMNS} FROM ota_releases
            WHERE app_id = $1 AND channel = $2 AND is_published AND yanked_at IS NULL
            """,
            app_id,
            channel,
        )
    )


async def blob_referenced(conn: Conn, sha256: str) -> bool:
    """Whether an artifact names these bytes (ota's `mnwd.blobs.references` check)."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM ota_artifacts WHERE sha256 = $1)", sha256)
    return found


# Builds on push (mnwd/ota/builds.py)

CONFIG_COLUMNS = (
    "c.id, c.app_id, c.repo_id, c.branch, c.build_command, c.artifact_path, c.targets, c.enabled, "
    "c.created_at, c.updated_at, u.username AS repo_owner, r.name AS repo_name"
)
CONFIG_FROM = "ota_build_configs c JOIN git_repos r ON r.id = c.repo_id JOIN users u ON u.id = r.user_id"
BUILD_COLUMNS = (
    "id, config_id, release_id, status, commit_sha, ref_name, error, started_at, finished_at, created_at, "
    "updated_at, job_id"
)


async def upsert_build_config(
    conn: Conn,
    app_id: uuid.UUID,
    *,
    repo_id: uuid.UUID,
    branch: str,
    build_command: str,
    artifact_path: str,
    targets: list[str],
    enabled: bool,
) -> None:
    await conn.execute(
        """
        INSERT INTO ota_build_configs (app_id, repo_id, branch, build_command, artifact_path, targets, enabled)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT ON CONSTRAINT ota_build_configs_app_id_key DO UPDATE SET
            repo_id = EXCLUDED.repo_id, branch = EXCLUDED.branch, build_command = EXCLUDED.build_command,
            artifact_path = EXCLUDED.artifact_path, targets = EXCLUDED.targets, enabled = EXCLUDED.enabled
        """,
        app_id,
        repo_id,
        branch,
        build_command,
        artifact_path,
        targets,
        enabled,
    )


async def get_build_config(conn: Conn, app_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {CONFIG_COLUMNS} FROM {CONFIG_FROM} WHERE c.app_id = $1", app_id)


async def get_build_config_by_id(conn: Conn, config_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CONFIG_COLUMNS} FROM {CONFIG_FROM} WHERE c.id = $1" + (" FOR UPDATE OF c" if lock else ""),
        config_id,
    )


async def delete_build_config(conn: Conn, app_id: uuid.UUID) -> bool:
    return await conn.fetchval("DELETE FROM ota_build_configs WHERE app_id = $1 RETURNING true", app_id) is not None


async def configs_for_push(conn: Conn, repo_id: uuid.UUID, branch: str) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM ota_build_configs WHERE repo_id = $1 AND branch = $2 AND enabled", repo_id, branch
    )
    return [row["id"] for row in rows]


async def insert_build(conn: Conn, build_id: uuid.UUID, config_id: uuid.UUID, commit_sha: str, ref_name: str) -> None:
    await conn.execute(
        "INSERT INTO ota_builds (id, config_id, commit_sha, ref_name) VALUES ($1, $2, $3, $4)",
        build_id,
        config_id,
        commit_sha,
        ref_name,
    )


async def get_build(conn: Conn, build_id: uuid.UUID, *, with_log: bool = False) -> asyncpg.Record | None:
    columns = BUILD_COLUMNS + (", log" if with_log else "")
    return await conn.fetchrow(f"SELECT {columns} FROM ota_builds WHERE id = $1", build_id)


async def list_builds(conn: Conn, config_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {BUILD_COLUMNS} FROM ota_builds WHERE config_id = $1 ORDER BY created_at DESC, id LIMIT $2",
            config_id,
            limit,
        )
    )


async def other_build_running(conn: Conn, config_id: uuid.UUID, build_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ota_builds WHERE config_id = $1 AND status = 'building' AND id <> $2)",
            config_id,
            build_id,
        )
    )


async def oldest_pending_build(conn: Conn, config_id: uuid.UUID) -> uuid.UUID | None:
    value = await conn.fetchval(
        "SELECT id FROM ota_builds WHERE config_id = $1 AND status = 'pending' ORDER BY created_at, id LIMIT 1",
        config_id,
    )
    return None if value is None else uuid.UUID(str(value))


async def start_build(conn: Conn, build_id: uuid.UUID, job_id: uuid.UUID) -> None:
    await conn.execute(
        """
        UPDATE ota_builds SET status = 'building', job_id = $2, started_at = now(), finished_at = NULL,
            log = '', error = NULL
        WHERE id = $1
        """,
        build_id,
        job_id,
    )


async def set_build_log(conn: Conn, build_id: uuid.UUID, job_id: uuid.UUID, log: str) -> None:
    await conn.execute(
        "UPDATE ota_builds SET log = $3 WHERE id = $1 AND job_id = $2 AND status = 'building'", build_id, job_id, log
    )


async def set_build_release(conn: Conn, build_id: uuid.UUID, release_id: uuid.UUID) -> None:
    await conn.execute("UPDATE ota_builds SET release_id = $2 WHERE id = $1", build_id, release_id)


async def finish_build(
    conn: Conn, build_id: uuid.UUID, job_id: uuid.UUID, *, succeeded: bool, log: str, error: str | None
) -> bool:
    return (
        await conn.fetchval(
            """
            UPDATE ota_builds SET status = $3, log = $4, error = $5, finished_at = greatest(now(), started_at)
            WHERE id = $1 AND job_id = $2 AND status = 'building'
            RETURNING true
            """,
            build_id,
            job_id,
            "succeeded" if succeeded else "failed",
            log,
            error,
        )
        is not None
    )


async def lock_build_config(conn: Conn, config_id: uuid.UUID) -> bool:
    return (
        await conn.fetchval("SELECT true FROM ota_build_configs WHERE id = $1 AND enabled FOR UPDATE", config_id)
        is not None
    )


async def commit_built(conn: Conn, config_id: uuid.UUID, commit_sha: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ota_builds WHERE config_id = $1 AND commit_sha = $2)", config_id, commit_sha
        )
    )


async def configs_pushed_since_built(conn: Conn) -> list[asyncpg.Record]:
    """Enabled configs whose repository was pushed after the config was saved and after its newest build."""
    return list(
        await conn.fetch(
            """
            SELECT c.id, c.repo_id, c.branch
            FROM ota_build_configs c JOIN git_repos r ON r.id = c.repo_id
            WHERE c.enabled AND r.pushed_at > c.updated_at
              AND r.pushed_at > coalesce(
                  (SELECT max(b.created_at) FROM ota_builds b WHERE b.config_id = c.id), '-infinity')
            """
        )
    )


async def fail_stale_builds(conn: Conn, seconds: float) -> list[asyncpg.Record]:
    """Builds ``building`` for longer than ``seconds``: marked failed; their ids and configs."""
    return list(
        await conn.fetch(
            """
            UPDATE ota_builds SET status = 'failed', finished_at = greatest(now(), started_at),
                error = 'The build stopped answering (its daemon died on every attempt); it was given up.'
            WHERE status = 'building' AND started_at < now() - make_interval(secs => $1)
            RETURNING id, config_id
            """,
            seconds,
        )
    )
