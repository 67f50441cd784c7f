"""SQL of the accounts domain. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

USER_COLUMNS = """
    u.id, u.username, u.email, u.display_name, u.password_hash, u.email_verified, u.totp_secret,
    u.totp_enabled, u.failed_login_attempts, u.locked_until, u.suspended_at, u.is_admin,
    u.can_create_projects, u.notify_sale, u.notify_follower, u.notify_release, u.notify_issues, u.created_at
"""


async def insert_user(
    conn: Conn,
    *,
    username: str,
    email: str,
    password_hash: str | None,
    is_admin: bool = False,
    can_create_projects: bool = False,
    email_verified: bool = False,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        INSERT INTO users AS u (username, email, password_hash, is_admin, can_create_projects, email_verified,
                                password_changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3::text IS NULL THEN NULL ELSE now() END)
        RETURNING {USER_COLUMNS}
        """,
        username,
        email,
        password_hash,
        is_admin,
        can_create_projects,
        email_verified,
    )
    return row


async def get_user_by_id(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)


async def get_user_by_login(conn: Conn, identifier: str) -> asyncpg.Record | None:
    """By username, or by email whatever its case."""
    if "@" in identifier:
        query = f"SELECT {USER_COLUMNS} FROM users u WHERE lower(u.email) = lower($1)"
    else:
        query = f"SELECT {USER_COLUMNS} FROM users u WHERE u.username = lower($1)"
    return await conn.fetchrow(query, identifier)


async def get_user_by_username(conn: Conn, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1", username)


async def reserve_login_attempt(conn: Conn, user_id: uuid.UUID, max_failures: int) -> int | None:
    """Count an attempt before the password is checked, so concurrent guesses cannot pass the limit.

    None when the account is locked (or all attempts of this round are in flight).
    """
    attempts: int | None = await conn.fetchval(
        """
        UPDATE users SET
            failed_login_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1
                                         ELSE failed_login_attempts + 1 END,
            locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN NULL
                                ELSE locked_until END
        WHERE id = $1
          AND (locked_until IS NOT NULL AND locked_until <= now()
               OR locked_until IS NULL AND failed_login_attempts < $2)
        RETURNING failed_login_attempts
        """,
        user_id,
        max_failures,
    )
    return attempts


async def lock_user_if_exhausted(conn: Conn, user_id: uuid.UUID, max_failures: int, until: datetime) -> None:
    await conn.execute(
        """
        UPDATE users SET locked_until = $3
        WHERE id = $1 AND failed_login_attempts >= $2 AND locked_until IS NULL
        """,
        user_id,
        max_failures,
        until,
    )


async def reset_login_attempts(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET failed_login_attempts = 0, locked_until = NULL, last_login_at = now() WHERE id = $1",
        user_id,
    )


async def clear_failed_logins(conn: Conn, user_id: uuid.UUID) -> None:
    """The password was right: this round's attempts are not failures (the sign-in may still wait for a code)."""
    await conn.execute("UPDATE users SET failed_login_attempts = 0, locked_until = NULL WHERE id = $1", user_id)


async def get_lock(conn: Conn, user_id: uuid.UUID) -> datetime | None:
    locked: datetime | None = await conn.fetchval(
        "SELECT locked_until FROM users WHERE id = $1 AND locked_until > now()", user_id
    )
    return locked


async def lock_password_hash(conn: asyncpg.Connection, user_id: uuid.UUID) -> str | None:
    """The user's password hash, its row locked until the transaction ends."""
    password_hash: str | None = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1 FOR UPDATE", user_id)
    return password_hash


async def update_password_hash(conn: Conn, user_id: uuid.UUID, password_hash: str, *, changed: bool) -> None:
    await conn.execute(
        """
        UPDATE users SET password_hash = $2,
               password_changed_at = CASE WHEN $3 THEN now() ELSE password_changed_at END
        WHERE id = $1
        """,
        user_id,
        password_hash,
        changed,
    )


async def set_suspended(conn: Conn, username: str, suspended: bool, reason: str | None = None) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE users SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END,
                         suspension_reason = CASE WHEN $2 THEN $3 END
        WHERE username = $1 RETURNING id
        """,
        username,
        suspended,
        reason,
    )
    return user_id


async def update_email_preferences(conn: Conn, user_id: uuid.UUID, prefs: dict[str, bool]) -> None:
    await conn.execute(
        """
        UPDATE users SET notify_sale = $2, notify_follower = $3, notify_release = $4, notify_issues = $5
        WHERE id = $1
        """,
        user_id,
        prefs["notify_sale"],
        prefs["notify_follower"],
        prefs["notify_release"],
        prefs["notify_issues"],
    )


async def update_display_name(conn: Conn, user_id: uuid.UUID, display_name: str | None) -> None:
    await conn.execute("UPDATE users SET display_name = $2 WHERE id = $1", user_id, display_name)


# Sessions


async def insert_user_session(
    conn: Conn,
    *,
    user_id: uuid.UUID,
    token_hash: bytes,
    user_agent: str | None,
    ip_address: str | None,
    lifetime_days: int,
    signed_in_by: str,
    reauthenticated: bool,
) -> uuid.UUID:
    session_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO user_sessions (user_id, token_hash, user_agent, ip_address, expires_at, signed_in_by,
                                   reauthenticated_at)
        VALUES ($1, $2, $3, $4::inet, now() + make_interval(days => $5), $6, CASE WHEN $7 THEN now() END)
        RETURNING id
        """,
        user_id,
        token_hash,
        user_agent,
        ip_address,
        lifetime_days,
        signed_in_by,
        reauthenticated,
    )
    return session_id


async def get_session_viewer(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """The signed-in user of a session token, if the session and the account are in good standing."""
    return await conn.fetchrow(
        f"""
        SELECT s.id AS session_id, s.last_seen_at, s.reauthenticated_at, s.signed_in_by,
               s.created_at AS signed_in_at, {USER_COLUMNS}
        FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.suspended_at IS NULL
        """,
        token_hash,
    )


async def touch_user_session(conn: Conn, session_id: uuid.UUID, ip_address: str | None) -> None:
    await conn.execute(
        "UPDATE user_sessions SET last_seen_at = now(), ip_address = coalesce($2::inet, ip_address) WHERE id = $1",
        session_id,
        ip_address,
    )


async def update_session_reauthenticated(conn: Conn, session_id: uuid.UUID) -> None:
    await conn.execute("UPDATE user_sessions SET reauthenticated_at = now() WHERE id = $1", session_id)


async def list_user_sessions(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, user_agent, host(ip_address) AS ip, created_at, last_seen_at
        FROM user_sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
        ORDER BY last_seen_at DESC
        """,
        user_id,
    )
    return rows


async def revoke_user_session(conn: Conn, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    status: str = await conn.execute(
        "UPDATE user_sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        session_id,
        user_id,
    )
    return status != "UPDATE 0"


async def revoke_session_by_token(conn: Conn, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE user_sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL", token_hash
    )


async def revoke_other_sessions(conn: Conn, user_id: uuid.UUID, keep: uuid.UUID | None) -> int:
    status: str = await conn.execute(
        """
        UPDATE user_sessions SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2
        """,
        user_id,
        keep,
    )
    return int(status.split()[-1])


async def delete_expired_sessions(conn: Conn) -> int:
    status: str = await conn.execute(
        """
        DELETE FROM user_sessions
        WHERE expires_at < now() - interval '30 days' OR revoked_at < now() - interval '30 days'
        """
    )
    return int(status.split()[-1])


# Login links and email verification (login_tokens)


async def insert_login_token(
    conn: Conn,
    user_id: uuid.UUID,
    token_hash: bytes,
    purpose: str,
    lifetime_minutes: int,
    *,
    new_email: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO login_tokens (user_id, token_hash, purpose, expires_at, new_email)
        VALUES ($1, $2, $3, now() + make_interval(mins => $4), $5)
        """,
        user_id,
        token_hash,
        purpose,
        lifetime_minutes,
        new_email,
    )


async def consume_login_token(conn: Conn, token_hash: bytes, purpose: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE login_tokens SET used_at = now()
        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
        RETURNING user_id
        """,
        token_hash,
        purpose,
    )
    return user_id


async def get_login_token_state(conn: Conn, token_hash: bytes, purpose: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT t.used_at, t.expires_at <= now() AS expired, u.username, u.email, t.new_email
        FROM login_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.purpose = $2
        """,
        token_hash,
        purpose,
    )


async def consume_email_change_token(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """Use an email change link once: the user and the address it moves the account to."""
    return await conn.fetchrow(
        """
        UPDATE login_tokens SET used_at = now()
        WHERE token_hash = $1 AND purpose = 'change_email' AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, new_email
        """,
        token_hash,
    )


async def expire_login_tokens(conn: Conn, user_id: uuid.UUID, purposes: list[str]) -> int:
    """Mark every unused link of these purposes used (a reset or an address change ends the others)."""
    status: str = await conn.execute(
        "UPDATE login_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL AND purpose = ANY($2::text[])",
        user_id,
        purposes,
    )
    return int(status.split()[-1])


async def update_user_claimed_by_email(conn: Conn, user_id: uuid.UUID) -> bool:
    """Mark the address verified and drop the password, if it was not verified yet; whether it was not."""
    status: str = await conn.execute(
        "UPDATE users SET email_verified = true, password_hash = NULL WHERE id = $1 AND NOT email_verified", user_id
    )
    return status == "UPDATE 1"


async def delete_passkeys(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM user_passkeys WHERE user_id = $1", user_id)


async def mark_email_verified(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute("UPDATE users SET email_verified = true WHERE id = $1", user_id)


# TOTP and backup codes


async def update_totp_enabled(conn: Conn, user_id: uuid.UUID, secret_ciphertext: str, used_step: int) -> bool:
    """Turn TOTP on with a confirmed secret; False when it was already on (another tab was quicker)."""
    status: str = await conn.execute(
        """
        UPDATE users SET totp_secret = $2, totp_enabled = true, totp_last_used_step = $3
        WHERE id = $1 AND NOT totp_enabled
        """,
        user_id,
        secret_ciphertext,
        used_step,
    )
    return status != "UPDATE 0"


async def update_totp_disabled(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_enabled = false, totp_last_used_step = NULL WHERE id = $1",
        user_id,
    )


async def claim_totp_step(conn: Conn, user_id: uuid.UUID, secret_ciphertext: str, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: one code signs in once, even when raced.

    The ciphertext check makes sure the code was verified against the secret that is still current.
    """
    status: str = await conn.execute(
        """
        UPDATE users SET totp_last_used_step = $3
        WHERE id = $1 AND totp_enabled AND totp_secret = $2
          AND (totp_last_used_step IS NULL OR totp_last_used_step < $3)
        """,
        user_id,
        secret_ciphertext,
        step,
    )
    return status != "UPDATE 0"


async def insert_backup_codes(conn: Conn, user_id: uuid.UUID, code_hashes: list[str]) -> None:
    await conn.execute(
        "INSERT INTO backup_codes (user_id, code_hash) SELECT $1, h FROM unnest($2::text[]) AS h",
        user_id,
        code_hashes,
    )


async def delete_backup_codes(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM backup_codes WHERE user_id = $1", user_id)


async def consume_backup_code(conn: Conn, user_id: uuid.UUID, code_hash: str) -> bool:
    used: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE backup_codes SET used_at = now()
        WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
        RETURNING id
        """,
        user_id,
        code_hash,
    )
    return used is not None


async def get_backup_code_used(conn: Conn, user_id: uuid.UUID, code_hash: str) -> bool:
    """Whether the user has this code and it is used (a code consumed is kept until new codes replace it)."""
    used: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM backup_codes WHERE user_id = $1 AND code_hash = $2 AND used_at IS NOT NULL)",
        user_id,
        code_hash,
    )
    return used


async def count_unused_backup_codes(conn: Conn, user_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL", user_id
    )
    return count


# Passkeys

PASSKEY_COLUMNS = """
    p.id, p.user_id, p.credential_id, p.credential_json, p.name, p.sign_count, p.last_used_at, p.created_at
"""


async def list_passkeys(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PASSKEY_COLUMNS} FROM user_passkeys p WHERE p.user_id = $1 ORDER BY p.created_at, p.id", user_id
    )
    return rows


async def count_passkeys(conn: Conn, user_id: uuid.UUID) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM user_passkeys WHERE user_id = $1", user_id)
    return count


async def get_passkey_for_sign_in(conn: Conn, credential_id: bytes) -> asyncpg.Record | None:
    """The passkey with this credential id, and whether its owner may sign in."""
    return await conn.fetchrow(
        f"""
        SELECT {PASSKEY_COLUMNS}, u.suspended_at
        FROM user_passkeys p JOIN users u ON u.id = p.user_id
        WHERE p.credential_id = $1
        """,
        credential_id,
    )


async def insert_passkey(
    conn: Conn,
    *,
    user_id: uuid.UUID,
    credential_id: bytes,
    credential_json: dict[str, Any],
    name: str,
    sign_count: int,
) -> asyncpg.Record | None:
    """The new passkey, or None when this credential id is already registered (to anyone)."""
    return await conn.fetchrow(
        f"""
        INSERT INTO user_passkeys AS p (user_id, credential_id, credential_json, name, sign_count)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT ON CONSTRAINT user_passkeys_credential_id_key DO NOTHING
        RETURNING {PASSKEY_COLUMNS}
        """,
        user_id,
        credential_id,
        credential_json,
        name,
        sign_count,
    )


async def update_passkey_sign_count(conn: Conn, passkey_id: uuid.UUID, old_count: int, new_count: int) -> bool:
    """Record a use; False when another sign-in changed the counter since it was read."""
    status: str = await conn.execute(
        "UPDATE user_passkeys SET sign_count = $3, last_used_at = now() WHERE id = $1 AND sign_count = $2",
        passkey_id,
        old_count,
        new_count,
    )
    return status != "UPDATE 0"


async def update_passkey_name(conn: Conn, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> bool:
    status: str = await conn.execute(
        "UPDATE user_passkeys SET name = $3 WHERE id = $1 AND user_id = $2", passkey_id, user_id, name
    )
    return status != "UPDATE 0"


async def delete_passkey(conn: Conn, user_id: uuid.UUID, passkey_id: uuid.UUID) -> bool:
    status: str = await conn.execute("DELETE FROM user_passkeys WHERE id = $1 AND user_id = $2", passkey_id, user_id)
    return status != "DELETE 0"


# Email change


async def update_user_email(conn: Conn, user_id: uuid.UUID, email: str) -> str | None:
    """Move the account to ``email`` (verified: a link mailed there was used); the old address, or None when
    another account has the new one (``users_email_lower_key``; the transaction is then aborted)."""
    try:
        old: str | None = await conn.fetchval(
            """
            UPDATE users u SET email = $2, email_verified = true
            FROM (SELECT email FROM users WHERE id = $1 FOR UPDATE) old
            WHERE u.id = $1
            RETURNING old.email
            """,
            user_id,
            email,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "users_email_lower_key":
            return None
        raise
    return old


# Account deletion. These read other domains' tables (by the schema, all hang off users) to say what a
# deletion removes; the deletion itself is one DELETE of the user row and the schema's ON DELETE rules.

FOOTPRINT_SQL = """
SELECT
    (SELECT count(*) FROM projects WHERE user_id = $1) AS projects,
    (SELECT count(*) FROM git_repos WHERE user_id = $1) AS repos,
    (SELECT count(*) FROM sync_apps WHERE creator_id = $1) AS apps,
    (SELECT count(*) FROM transactions WHERE seller_id = $1) AS sales,
    (SELECT count(*) FROM transactions WHERE buyer_id = $1) AS purchases,
    (SELECT count(*) FROM sync_devices WHERE user_id = $1) AS devices,
    (SELECT count(*) FROM sync_log WHERE user_id = $1) AS sync_changes,
    (SELECT count(*) FROM sync_blobs WHERE user_id = $1) AS sync_blobs,
    (SELECT count(*) FROM oauth_grants WHERE user_id = $1 AND revoked_at IS NULL) AS grants,
    (SELECT count(*) FROM user_passkeys WHERE user_id = $1) AS passkeys,
    (SELECT count(*) FROM subscriptions WHERE subscriber_id = $1 AND status IN ('active', 'past_due'))
    + (SELECT count(*) FROM creator_subscriptions WHERE user_id = $1 AND status IN ('active', 'past_due'))
    + (SELECT count(*) FROM fan_plus_subscriptions WHERE user_id = $1 AND status IN ('active', 'past_due'))
    AS subscriptions
"""

DEPENDENTS_SQL = """
SELECT
    (SELECT count(DISTINCT d.user_id) FROM sync_devices d JOIN sync_apps a ON a.id = d.app_id
     WHERE a.creator_id = $1 AND d.user_id <> $1) AS app_users,
    (SELECT count(*) FROM subscriptions s JOIN projects p ON p.id = s.project_id
     WHERE p.user_id = $1 AND s.subscriber_id <> $1 AND s.status IN ('active', 'past_due')) AS subscribers,
    (SELECT count(*) FROM transactions t
     WHERE t.seller_id = $1 AND t.buyer_id <> $1 AND t.status = 'completed') AS buyers,
    (SELECT count(*) FROM blog_posts b JOIN projects p ON p.id = b.project_id
     WHERE b.author_id = $1 AND p.user_id <> $1) AS foreign_posts
"""


async def get_account_footprint(conn: Conn, user_id: uuid.UUID) -> dict[str, int]:
    row = await conn.fetchrow(FOOTPRINT_SQL, user_id)
    return dict(row) if row is not None else {}


async def get_account_dependents(conn: Conn, user_id: uuid.UUID) -> dict[str, int]:
    row = await conn.fetchrow(DEPENDENTS_SQL, user_id)
    return dict(row) if row is not None else {}


async def delete_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool | None:
    """Delete the user row (the schema's cascades remove what hangs off it), checking the deferred foreign
    keys at once so a row that must outlive the user fails here: True when deleted, False when it was gone,
    None when a foreign key refused (the transaction is then aborted)."""
    try:
        status: str = await conn.execute("DELETE FROM users WHERE id = $1", user_id)
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except asyncpg.ForeignKeyViolationError:
        return None
    return status == "DELETE 1"


# Data export: the account's own rows, never secrets or hashes.


async def export_user(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT id, username, email, display_name, bio, avatar_url, email_verified, totp_enabled,
               password_hash IS NOT NULL AS has_password, can_create_projects, is_admin, creator_tier,
               storage_used_bytes, notify_sale, notify_follower, notify_release, notify_issues,
               last_login_at, password_changed_at, created_at, updated_at
        FROM users WHERE id = $1
        """,
        user_id,
    )


async def export_sessions(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, user_agent, host(ip_address) AS ip, signed_in_by, created_at, last_seen_at, expires_at, revoked_at
        FROM user_sessions WHERE user_id = $1 ORDER BY created_at
        """,
        user_id,
    )
    return rows


async def export_passkeys(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, name, credential_json -> 'transports' AS transports,
               credential_json ->> 'device_type' AS device_type, created_at, last_used_at
        FROM user_passkeys WHERE user_id = $1 ORDER BY created_at
        """,
        user_id,
    )
    return rows


async def export_apps(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, name, slug, description, is_active, redirect_uris, sync_files, ota_public_key, created_at, updated_at
        FROM sync_apps WHERE creator_id = $1 ORDER BY created_at
        """,
        user_id,
    )
    return rows


async def export_grants(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT g.id, a.name AS app_name, a.slug AS app_slug, g.scope, g.device_id, g.created_at, g.last_used_at,
               g.revoked_at, g.revoke_reason
        FROM oauth_grants g JOIN sync_apps a ON a.id = g.app_id
        WHERE g.user_id = $1 ORDER BY g.created_at
        """,
        user_id,
    )
    return rows


async def export_devices(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.id, a.slug AS app_slug, d.device_name, d.platform, d.last_mutation_id, d.last_seen_at,
               d.revoked_at, d.created_at
        FROM sync_devices d JOIN sync_apps a ON a.id = d.app_id
        WHERE d.user_id = $1 ORDER BY d.created_at
        """,
        user_id,
    )
    return rows


async def export_sync_streams(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """Per app the user syncs with: how much is stored (not the data itself, which the app holds encrypted)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT a.slug AS app_slug, a.name AS app_name,
               (SELECT count(*) FROM sync_log l WHERE l.app_id = a.id AND l.user_id = $1) AS changes,
               (SELECT max(seq) FROM sync_log l WHERE l.app_id = a.id AND l.user_id = $1) AS latest_seq,
               (SELECT count(*) FROM sync_blobs b WHERE b.app_id = a.id AND b.user_id = $1) AS blobs,
               (SELECT coalesce(sum(size_bytes), 0)::bigint FROM sync_blobs b WHERE b.app_id = a.id AND b.user_id = $1)
                   AS blob_bytes
        FROM sync_apps a
        WHERE EXISTS (SELECT 1 FROM sync_log l WHERE l.app_id = a.id AND l.user_id = $1)
           OR EXISTS (SELECT 1 FROM sync_blobs b WHERE b.app_id = a.id AND b.user_id = $1)
           OR EXISTS (SELECT 1 FROM sync_devices d WHERE d.app_id = a.id AND d.user_id = $1)
        ORDER BY a.slug
        """,
        user_id,
    )
    return rows


PERSONAL_TOKEN_QUERY = """
    SELECT t.id, t.user_id, t.scopes, t.expires_at, t.revoked_at, t.expires_at <= now() AS expired,
           u.username, u.display_name, u.suspended_at
    FROM personal_access_tokens t
    JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = $1
"""


async def lock_user(conn: Conn, user_id: uuid.UUID) -> bool:
    """Hold the user's row until the transaction ends; False if there is no such user."""
    found = await conn.fetchval("SELECT true FROM users WHERE id = $1 FOR UPDATE", user_id)
    return bool(found)


async def count_live_personal_tokens(conn: Conn, user_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        """
        SELECT count(*) FROM personal_access_tokens
        WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        """,
        user_id,
    )
    return count


async def insert_personal_token(
    conn: Conn,
    user_id: uuid.UUID,
    *,
    name: str,
    token_hash: bytes,
    scopes: list[str],
    expires_at: datetime | None,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """
        INSERT INTO personal_access_tokens (user_id, name, token_hash, scopes, expires_at)
        VALUES ($1, $2, $3, $4, $5)
        RETURNING id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at
        """,
        user_id,
        name,
        token_hash,
        scopes,
        expires_at,
    )
    return row


async def list_personal_tokens(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's tokens not revoked, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at
        FROM personal_access_tokens
        WHERE user_id = $1 AND revoked_at IS NULL
        ORDER BY created_at DESC, id
        """,
        user_id,
    )
    return rows


async def revoke_personal_token(conn: Conn, user_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    """Revoke one of the user's tokens (again is no change); False if the user has no such token."""
    found = await conn.fetchval(
        """
        UPDATE personal_access_tokens SET revoked_at = coalesce(revoked_at, now())
        WHERE id = $1 AND user_id = $2
        RETURNING id
        """,
        token_id,
        user_id,
    )
    return found is not None


async def get_personal_token(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """Everything a check of a personal access token needs, in one query."""
    row: asyncpg.Record | None = await conn.fetchrow(PERSONAL_TOKEN_QUERY, token_hash)
    return row


async def update_personal_token_used(conn: Conn, token_id: uuid.UUID) -> None:
    await conn.execute("UPDATE personal_access_tokens SET last_used_at = now() WHERE id = $1", token_id)


async def list_users_for_operators(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT username, email, email_verified, is_admin, can_create_projects, totp_enabled,
               suspended_at, created_at
        FROM users ORDER BY username
        """
    )
    return rows


async def set_user_password_by_operator(conn: Conn, username: str, password_hash: str) -> uuid.UUID | None:
    """A new password, and the failed sign-ins and lockout forgotten; None if there is no such user."""
    user_id: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE users SET password_hash = $2, password_changed_at = now(),
                         failed_login_attempts = 0, locked_until = NULL
        WHERE username = $1 RETURNING id
        """,
        username,
        password_hash,
    )
    return user_id


async def update_user_role(conn: Conn, username: str, role: str, granted: bool) -> uuid.UUID | None:
    """Set ``is_admin`` (role 'admin') or ``can_create_projects`` (role 'creator'); None if no such user."""
    user_id: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE users SET is_admin = CASE WHEN $2 = 'admin' THEN $3 ELSE is_admin END,
                         can_create_projects = CASE WHEN $2 = 'creator' THEN $3 ELSE can_create_projects END
        WHERE username = $1 RETURNING id
        """,
        username,
        role,
        granted,
    )
    return user_id
