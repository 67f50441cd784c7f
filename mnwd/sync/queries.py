"""SQL of the sync domain. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from mnwd.db.lane import Lane

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# Devices, push and pull


DEVICE_COLUMNS = "id, device_name, platform, last_mutation_id, last_seen_at, revoked_at, created_at"


async def upsert_device(
    conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, device_name: str, platform: str | None
) -> tuple[asyncpg.Record, bool]:
    """The device of this name, created if new; the flag says whether it was created."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""
        INSERT INTO sync_devices (app_id, user_id, device_name, platform) VALUES ($1, $2, $3, $4)
        ON CONFLICT (app_id, user_id, device_name) DO NOTHING
        RETURNING {DEVICE_COLUMNS}
        """,
        app_id,
        user_id,
        device_name,
        platform,
    )
    if row is not None:
        return row, True
    existing: asyncpg.Record = await conn.fetchrow(
        f"SELECT {DEVICE_COLUMNS} FROM sync_devices WHERE app_id = $1 AND user_id = $2 AND device_name = $3",
        app_id,
        user_id,
        device_name,
    )
    return existing, False


async def list_devices(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT {DEVICE_COLUMNS} FROM sync_devices WHERE app_id = $1 AND user_id = $2
        ORDER BY revoked_at IS NOT NULL, last_seen_at DESC NULLS LAST, created_at
        """,
        app_id,
        user_id,
    )
    return rows


async def rename_device(
    conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID, device_name: str
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""
        UPDATE sync_devices SET device_name = $4
        WHERE id = $3 AND app_id = $1 AND user_id = $2 AND revoked_at IS NULL
        RETURNING {DEVICE_COLUMNS}
        """,
        app_id,
        user_id,
        device_id,
        device_name,
    )
    return row


async def revoke_device(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> bool:
    found: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE sync_devices SET revoked_at = coalesce(revoked_at, now())
        WHERE id = $3 AND app_id = $1 AND user_id = $2
        RETURNING id
        """,
        app_id,
        user_id,
        device_id,
    )
    return found is not None


async def lock_stream(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", key)


async def push_changes(
    conn: Conn | Lane,
    stream: tuple[uuid.UUID, uuid.UUID, uuid.UUID, int],
    batch: tuple[int, int],
    valid: tuple[list[int], list[str], list[str], list[str], list[str | None], list[object]],
    poke: tuple[str, bool, int],
) -> asyncpg.Record:
    """`sync_push` of ``stream`` (app, user, device, stream lock key), ``batch`` the first and last
    mutation_id, ``valid`` the columns of its valid mutations, ``poke`` (payload prefix, carry the changes,
    most bytes they may take)."""
    app, user, device, stream_lock = stream
    first, last = batch
    ids, tables, ops, row_ids, data, stamps = valid
    poke_prefix, poke_changes, poke_max_bytes = poke
    return await sync_push(
        conn,
        app=app,
        user=user,
        device=device,
        stream_lock=stream_lock,
        first=first,
        last=last,
        ids=ids,
        tables=tables,
        ops=ops,
        row_ids=row_ids,
        data=data,
        stamps=stamps,
        poke_prefix=poke_prefix,
        poke_changes=poke_changes,
        poke_max_bytes=poke_max_bytes,
    )


# Named notation: a parameter reordered in mnwd/sync/sql/sync_push.sql cannot take another one's value.
# bearer_epoch (migration 0040) as of the statement's start: every revocation committed before the push began.
SYNC_PUSH = """
SELECT outcome, device_last, seqs, mutation_ids, poke, (SELECT epoch FROM bearer_epoch) AS bearer_epoch
FROM sync_push(
    p_app => $1, p_user => $2, p_device => $3, p_stream_lock => $4, p_first => $5, p_last => $6,
    p_ids => $7, p_tables => $8, p_ops => $9, p_row_ids => $10, p_data => $11, p_stamps => $12,
    p_poke_prefix => $13, p_poke_changes => $14, p_poke_max_bytes => $15
)
"""


async def sync_push(
    conn: Conn | Lane,
    *,
    app: uuid.UUID,
    user: uuid.UUID,
    device: uuid.UUID,
    stream_lock: int,
    first: int,
    last: int,
    ids: Sequence[int],
    tables: Sequence[str],
    ops: Sequence[str],
    row_ids: Sequence[str],
    data: Sequence[str | None],
    stamps: Sequence[object],
    poke_prefix: str,
    poke_changes: bool,
    poke_max_bytes: int,
) -> asyncpg.Record:
    """The ``sync_push`` database function (mnwd/sync/sql/sync_push.sql), one round trip: returns outcome
    ('applied', 'no-device', 'revoked' or 'gap'), device_last, seqs, mutation_ids, the poke to send
    after the commit (null when nothing was written), and the bearer epoch it started at."""
    row = await conn.fetchrow(
        SYNC_PUSH,
        app,
        user,
        device,
        stream_lock,
        first,
        last,
        ids,
        tables,
        ops,
        row_ids,
        data,
        stamps,
        poke_prefix,
        poke_changes,
        poke_max_bytes,
    )
    assert row is not None  # the function returns one row
    return row


# Keys

KEY_COLUMNS = "key_version, encrypted_key, updated_at"


async def get_key(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {KEY_COLUMNS} FROM sync_keys WHERE app_id = $1 AND user_id = $2", app_id, user_id
    )


async def insert_key(
    conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, *, key_version: int, encrypted_key: str
) -> asyncpg.Record | None:
    """The stored key, or ``None`` when the stream already has one (a concurrent insert waits, then loses)."""
    return await conn.fetchrow(
        f"""
        INSERT INTO sync_keys (app_id, user_id, key_version, encrypted_key) VALUES ($1, $2, $3, $4)
        ON CONFLICT (app_id, user_id) DO NOTHING
        RETURNING {KEY_COLUMNS}
        """,
        app_id,
        user_id,
        key_version,
        encrypted_key,
    )


async def update_key(
    conn: Conn,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    expected_version: int,
    key_version: int,
    encrypted_key: str,
) -> asyncpg.Record | None:
    """Compare-and-set: the new key, or ``None`` when the stored version is not ``expected_version``."""
    return await conn.fetchrow(
        f"""
        UPDATE sync_keys SET key_version = $4, encrypted_key = $5
        WHERE app_id = $1 AND user_id = $2 AND key_version = $3
        RETURNING {KEY_COLUMNS}
        """,
        app_id,
        user_id,
        expected_version,
        key_version,
        encrypted_key,
    )


# Compaction


async def list_stream_users(conn: Conn, app_id: uuid.UUID) -> list[uuid.UUID]:
    """The users with a change log in the app, by a skip scan of ``sync_log_app_user_seq_idx``."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE s AS (
            (SELECT user_id FROM sync_log WHERE app_id = $1 ORDER BY user_id LIMIT 1)
            UNION ALL
            SELECT n.user_id FROM s, LATERAL (
                SELECT l.user_id FROM sync_log l WHERE l.app_id = $1 AND l.user_id > s.user_id
                ORDER BY l.user_id LIMIT 1
            ) n
        )
        SELECT user_id FROM s
        """,
        app_id,
    )
    return [row["user_id"] for row in rows]


async def list_streams(conn: Conn) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every (app_id, user_id) with a change log, by a skip scan of ``sync_log_app_user_seq_idx``."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE s AS (
            (SELECT app_id, user_id FROM sync_log ORDER BY app_id, user_id LIMIT 1)
            UNION ALL
            SELECT n.app_id, n.user_id FROM s, LATERAL (
                SELECT l.app_id, l.user_id FROM sync_log l WHERE (l.app_id, l.user_id) > (s.app_id, s.user_id)
                ORDER BY l.app_id, l.user_id LIMIT 1
            ) n
        )
        SELECT app_id, user_id FROM s
        """
    )
    return [(row["app_id"], row["user_id"]) for row in rows]


async def get_stream_head(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID) -> int:
    head: int | None = await conn.fetchval(
        "SELECT max(seq) FROM sync_log WHERE app_id = $1 AND user_id = $2", app_id, user_id
    )
    return head or 0


async def list_stream_heads(
    conn: Conn, streams: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """The newest seq of each (app, user) stream (0 when it has none), one index probe per stream."""
    rows = await conn.fetch(
        """
        SELECT s.app_id, s.user_id,
               (SELECT max(l.seq) FROM sync_log l WHERE l.app_id = s.app_id AND l.user_id = s.user_id) AS head
        FROM unnest($1::uuid[], $2::uuid[]) AS s(app_id, user_id)
        """,
        [app for app, _ in streams],
        [user for _, user in streams],
    )
    return {(r["app_id"], r["user_id"]): r["head"] or 0 for r in rows}


async def delete_compacted_changes(
    conn: Conn,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    after_seq: int,
    upto_seq: int,
    limit: int,
    tombstone_days: int,
) -> asyncpg.Record:
    """Look at the next ``limit`` changes of the stream in (after_seq, upto_seq] and delete those that are
    superseded (a newer change of the same row exists, anywhere in the stream) or are the newest change of
    their row, a DELETE older than ``tombstone_days``.

    One row: ``examined``, ``examined_upto`` (the last seq looked at, NULL when none), ``superseded``,
    ``tombstones`` (how many of each were deleted) and ``horizon`` (the highest deleted tombstone, or NULL).
    """
    row: asyncpg.Record = await conn.fetchrow(
        """
        WITH examined AS (
            SELECT o.seq, o.operation, o.server_time,
                   EXISTS (
                       SELECT 1 FROM sync_log n
                       WHERE n.app_id = $1 AND n.user_id = $2
                         AND n.table_name = o.table_name AND n.row_id = o.row_id AND n.seq > o.seq
                   ) AS superseded
            FROM sync_log o
            WHERE o.app_id = $1 AND o.user_id = $2 AND o.seq > $3 AND o.seq <= $4
            ORDER BY o.seq
            LIMIT $5
        ), doomed AS (
            SELECT seq, NOT superseded AS tombstone FROM examined
            WHERE superseded OR (operation = 'DELETE' AND server_time < now() - make_interval(days => $6))
        ), dropped AS (
            DELETE FROM sync_log l USING doomed d
            WHERE l.seq = d.seq AND l.app_id = $1 AND l.user_id = $2
            RETURNING l.seq, d.tombstone
        )
        SELECT (SELECT count(*) FROM examined) AS examined,
               (SELECT max(seq) FROM examined) AS examined_upto,
               count(*) FILTER (WHERE NOT tombstone) AS superseded,
               count(*) FILTER (WHERE tombstone) AS tombstones,
               max(seq) FILTER (WHERE tombstone) AS horizon
        FROM dropped
        """,
        app_id,
        user_id,
        after_seq,
        upto_seq,
        limit,
        tombstone_days,
    )
    return row


async def set_local_statement_timeout(conn: asyncpg.Connection, seconds: float) -> None:
    """For the rest of this transaction only."""
    await conn.execute("SELECT set_config('statement_timeout', $1, true)", f"{max(int(seconds * 1000), 1)}ms")


async def sync_log_needs_analyze(conn: Conn) -> bool:
    """Never analyzed (reltuples is -1 until then), or more rows changed since the last ANALYZE than it has."""
    stale: bool = await conn.fetchval(
        """
        SELECT c.reltuples < 0 OR coalesce(s.n_mod_since_analyze, 0) > greatest(c.reltuples, 10000)
        FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.oid = 'sync_log'::regclass
        """
    )
    return stale


async def analyze_sync_log(conn: Conn) -> None:
    await conn.execute("ANALYZE sync_log")


async def upsert_horizon(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, horizon_seq: int) -> int:
    """Raise the stream's horizon to ``horizon_seq`` (never lower it); the horizon now in force."""
    horizon: int = await conn.fetchval(
        """
        INSERT INTO sync_horizons AS h (app_id, user_id, horizon_seq) VALUES ($1, $2, $3)
        ON CONFLICT (app_id, user_id) DO UPDATE
            SET horizon_seq = GREATEST(h.horizon_seq, EXCLUDED.horizon_seq), compacted_at = now()
        RETURNING horizon_seq
        """,
        app_id,
        user_id,
        horizon_seq,
    )
    return horizon


# Blobs

BLOB_COLUMNS = "hash, size_bytes, content_type, created_at"


async def get_blob(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {BLOB_COLUMNS} FROM sync_blobs WHERE app_id = $1 AND user_id = $2 AND hash = $3",
        app_id,
        user_id,
        sha256,
    )


async def insert_blob(
    conn: Conn,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    sha256: str,
    *,
    s3_key: str,
    size: int,
    content_type: str | None,
) -> asyncpg.Record | None:
    """The new row, or None when this (app, user) already has the blob (waits for a concurrent insert to end)."""
    return await conn.fetchrow(
        f"""
        INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes, content_type)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT ON CONSTRAINT sync_blobs_app_id_user_id_hash_key DO NOTHING
        RETURNING {BLOB_COLUMNS}
        """,
        app_id,
        user_id,
        sha256,
        s3_key,
        size,
        content_type,
    )


async def delete_blob(conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, sha256: str) -> int | None:
    """The size of the deleted row, or None if there was none."""
    size: int | None = await conn.fetchval(
        "DELETE FROM sync_blobs WHERE app_id = $1 AND user_id = $2 AND hash = $3 RETURNING size_bytes",
        app_id,
        user_id,
        sha256,
    )
    return size


async def blob_referenced(conn: Conn, sha256: str) -> bool:
    """Whether any (app, user) has a blob with these bytes (sync's `mnwd.blobs.references` check)."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sync_blobs WHERE hash = $1)", sha256)
    return found


async def get_storage_usage(conn: Conn, user_id: uuid.UUID, default_quota: int) -> asyncpg.Record | None:
    """``used`` and ``quota`` (the user's override, else ``default_quota``) in bytes; None for no such user."""
    return await conn.fetchrow(
        """
        SELECT storage_used_bytes AS used, COALESCE(max_file_override_bytes, $2) AS quota
        FROM users WHERE id = $1
        """,
        user_id,
        default_quota,
    )


async def add_storage_used(conn: Conn, user_id: uuid.UUID, size: int, default_quota: int) -> int | None:
    """Count ``size`` more bytes against the user's quota, if they fit; the new total, or None if they do not.

    The condition is evaluated on the locked, latest row, so concurrent uploads cannot together pass the quota.
    """
    used: int | None = await conn.fetchval(
        """
        UPDATE users SET storage_used_bytes = storage_used_bytes + $2
        WHERE id = $1 AND storage_used_bytes + $2 <= COALESCE(max_file_override_bytes, $3)
        RETURNING storage_used_bytes
        """,
        user_id,
        size,
        default_quota,
    )
    return used


async def release_storage_used(conn: Conn, user_id: uuid.UUID, size: int) -> None:
    # GREATEST: a count that drifted low (edited by hand) must not make a delete fail the CHECK.
    await conn.execute(
        "UPDATE users SET storage_used_bytes = GREATEST(storage_used_bytes - $2, 0) WHERE id = $1", user_id, size
    )


# Dashboard


async def get_app_stats(conn: Conn, app_id: uuid.UUID) -> asyncpg.Record:
    """Usage counts of one app, in one statement (so one snapshot). Each part reads only the app's rows by an
    index led by ``app_id``; ``pg_column_size`` is the stored size of ``data`` and needs no de-TOASTing."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM (
                    SELECT user_id FROM sync_devices WHERE app_id = $1
                    UNION
                    SELECT user_id FROM oauth_grants WHERE app_id = $1
                ) AS u) AS users,
               d.active_devices, d.revoked_devices,
               l.log_rows, l.log_bytes, l.last_activity,
               b.blobs, b.blob_bytes,
               now() AS as_of
        FROM (SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS active_devices,
                     count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked_devices
              FROM sync_devices WHERE app_id = $1) AS d,
             (SELECT count(*) AS log_rows,
                     coalesce(sum(pg_column_size(data)), 0)::bigint AS log_bytes,
                     max(server_time) AS last_activity
              FROM sync_log WHERE app_id = $1) AS l,
             (SELECT count(*) AS blobs, coalesce(sum(size_bytes), 0)::bigint AS blob_bytes
              FROM sync_blobs WHERE app_id = $1) AS b
        """,
        app_id,
    )
    return row


async def list_user_devices(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's devices in every app, grouped by app (by name); active first, then by last seen."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.app_id, a.name AS app_name, a.is_active AS app_active,
               d.id, d.device_name, d.platform, d.last_seen_at, d.created_at, d.revoked_at
        FROM sync_devices d JOIN sync_apps a ON a.id = d.app_id
        WHERE d.user_id = $1
        ORDER BY lower(a.name), a.id, d.revoked_at IS NOT NULL, d.last_seen_at DESC, d.created_at
        """,
        user_id,
    )
    return rows


async def revoke_user_device(conn: Conn, user_id: uuid.UUID, device_id: uuid.UUID) -> bool:
    """``revoke_device`` without the app: the device must be the user's. True when it is (revoked now or before)."""
    found: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE sync_devices SET revoked_at = coalesce(revoked_at, now())
        WHERE id = $2 AND user_id = $1
        RETURNING id
        """,
        user_id,
        device_id,
    )
    return found is not None


async def update_refetch_horizon(
    conn: Conn, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID, horizon: int
) -> None:
    """Only a device of this (app, user): the id may come from the request."""
    await conn.execute(
        "UPDATE sync_devices SET refetch_horizon = $4 WHERE id = $3 AND app_id = $1 AND user_id = $2",
        app_id,
        user_id,
        device_id,
        horizon,
    )


async def pull_page(
    conn: Conn | Lane,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    device_id: uuid.UUID | None,
    cursor: int,
    limit: int,
    exclude_device: uuid.UUID | None,
) -> asyncpg.Record:
    """The stream's horizon, the device's progress (``device_id`` is null when the device is not this
    stream's), and the page of up to ``limit`` changes after ``cursor``:
    ``last_seq`` of the page, ``has_more`` (changes after it), and ``changes``: the bytes of the page's JSON
    array items, ``sent`` of them (``exclude_device``'s are left out). One round trip, one snapshot (so a
    compaction is seen either entirely or not at all). PostgreSQL writes the JSON (``sync_change_json``,
    migration 0015), faster than decoding rows."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT h.horizon_seq, d.id AS device_id, d.last_mutation_id, d.refetch_horizon, p.last_seq, p.sent, p.changes,
               EXISTS (SELECT FROM sync_log WHERE app_id = $1 AND user_id = $2 AND seq > p.last_seq) AS has_more
        FROM (SELECT 1) AS one
        LEFT JOIN sync_horizons h ON h.app_id = $1 AND h.user_id = $2
        LEFT JOIN sync_devices d ON d.id = $3 AND d.app_id = $1 AND d.user_id = $2
        CROSS JOIN (
            SELECT max(l.seq) AS last_seq,
                   count(*) FILTER (WHERE l.sent) AS sent,
                   convert_to(
                       string_agg(
                           sync_change_json(l.seq, l.table_name, l.operation, l.row_id, l.data, l.device_id,
                                            l.client_timestamp, l.server_time),
                           ',' ORDER BY l.seq
                       ) FILTER (WHERE l.sent),
                       'UTF8'
                   ) AS changes
            FROM (
                SELECT *, $6::uuid IS NULL OR device_id IS DISTINCT FROM $6 AS sent
                FROM sync_log
                WHERE app_id = $1 AND user_id = $2 AND seq > $4
                ORDER BY seq
                LIMIT $5
            ) AS l
        ) AS p
        """,
        app_id,
        user_id,
        device_id,
        cursor,
        limit,
        exclude_device,
    )
    return row
