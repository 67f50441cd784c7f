"""SQL of the licensing domain (only `mnwd.licensing` imports this). Functions take the connection first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from mnwd.licensing.model import Activation, License, Policy

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

KEY_COLUMNS = """
    k.id, k.item_id, i.title AS item_title, p.user_id AS creator_id, k.owner_id, u.username AS owner_username,
    k.transaction_id, k.key_code, k.key_last, k.status, k.source, k.issued_to_email, k.max_activations,
    k.activation_count, k.expires_at, k.floating, k.heartbeat_seconds, k.entitlements, k.updates_until,
    k.last_swap_at, k.revoked_reason, k.created_at
"""
KEY_FROM = """
    FROM license_keys k
    JOIN items i ON i.id = k.item_id
    JOIN projects p ON p.id = i.project_id
    LEFT JOIN users u ON u.id = k.owner_id
"""
ACTIVATION_COLUMNS = """
    id, license_key_id, machine_id, machine_name, platform, app_version, last_seen_at, lease_expires_at, created_at
"""


# Items and purchases (tables of the store and commerce, read here).


async def get_item(conn: Conn, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT i.id, i.title, i.enable_license_keys, i.license_max_activations, p.user_id AS creator_id,
               u.username AS creator_username
        FROM items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id WHERE i.id = $1
        """,
        item_id,
    )


async def list_creator_items(conn: Conn, creator_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT i.id, i.title, i.enable_license_keys, p.title AS project_title,
               (SELECT count(*) FROM license_keys k WHERE k.item_id = i.id) AS key_count
        FROM items i JOIN projects p ON p.id = i.project_id
        WHERE p.user_id = $1 ORDER BY p.title, i.title
        """,
        creator_id,
    )
    return rows


async def set_item_licensing(conn: Conn, item_id: uuid.UUID, enabled: bool, max_activations: int | None) -> None:
    await conn.execute(
        "UPDATE items SET enable_license_keys = $2, license_max_activations = $3 WHERE id = $1",
        item_id,
        enabled,
        max_activations,
    )


async def get_transaction(conn: Conn, transaction_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, buyer_id, item_id, status, completed_at, created_at FROM transactions WHERE id = $1",
        transaction_id,
    )


async def get_verified_user_by_email(conn: Conn, email: str) -> uuid.UUID | None:
    """The account whose verified e-mail this is (an unverified address proves nothing about its mailbox)."""
    user_id: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM users WHERE lower(email) = lower($1) AND email_verified", email
    )
    return user_id


async def list_verified_users_by_email(conn: Conn, emails: list[str]) -> dict[str, uuid.UUID]:
    """The accounts whose verified e-mail is one of ``emails``, by the address in lower case."""
    rows = await conn.fetch(
        "SELECT lower(email) AS email, id FROM users WHERE lower(email) = ANY($1::text[]) AND email_verified",
        [e.lower() for e in emails],
    )
    return {row["email"]: row["id"] for row in rows}


async def lock_item_comps(conn: Conn, item_id: uuid.UUID) -> None:
    """Orders the bulk comps of one item (a transaction-scoped advisory lock), so two posts of one list at once
    cannot both find an address without its comp."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('licensing.comps:' || $1::uuid::text, 0))", item_id
    )


async def list_comps_to(conn: Conn, item_id: uuid.UUID, emails: list[str]) -> dict[str, asyncpg.Record]:
    """The newest comp of the item issued to each of ``emails`` (by the address in lower case): its id and
    its encrypted key."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (lower(issued_to_email)) lower(issued_to_email) AS email, id, key_code
        FROM license_keys
        WHERE item_id = $1 AND source = 'comp' AND lower(issued_to_email) = ANY($2::text[])
        ORDER BY lower(issued_to_email), created_at DESC
        """,
        item_id,
        [e.lower() for e in emails],
    )
    return {row["email"]: row for row in rows}


async def list_usernames(conn: Conn, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await conn.fetch("SELECT id, username FROM users WHERE id = ANY($1::uuid[])", user_ids)
    return {row["id"]: row["username"] for row in rows}


async def get_user_email(conn: Conn, user_id: uuid.UUID) -> str | None:
    email: str | None = await conn.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    return email


# Policies.


async def get_policy(conn: Conn, item_id: uuid.UUID) -> Policy | None:
    row = await conn.fetchrow("SELECT * FROM license_policies WHERE item_id = $1", item_id)
    return None if row is None else Policy.from_row(row)


async def upsert_policy(conn: Conn, item_id: uuid.UUID, policy: Policy) -> None:
    await conn.execute(
        """
        INSERT INTO license_policies (item_id, max_activations, expiry, expires_at, duration_days, floating,
                                      heartbeat_seconds, entitlements, updates_days)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (item_id) DO UPDATE SET
            max_activations = EXCLUDED.max_activations, expiry = EXCLUDED.expiry,
            expires_at = EXCLUDED.expires_at, duration_days = EXCLUDED.duration_days,
            floating = EXCLUDED.floating, heartbeat_seconds = EXCLUDED.heartbeat_seconds,
            entitlements = EXCLUDED.entitlements, updates_days = EXCLUDED.updates_days
        """,
        item_id,
        policy.max_activations,
        policy.expiry,
        policy.expires_at,
        policy.duration_days,
        policy.floating,
        policy.heartbeat_seconds,
        list(policy.entitlements),
        policy.updates_days,
    )


# Keys.


async def insert_key(conn: Conn, **fields: Any) -> uuid.UUID | None:
    """A new key; None when the purchase already has one (the partial unique index decides)."""
    names = list(fields)
    placeholders = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    key_id: uuid.UUID | None = await conn.fetchval(
        f"""
        INSERT INTO license_keys ({", ".join(names)}) VALUES ({placeholders})
        ON CONFLICT (transaction_id) WHERE transaction_id IS NOT NULL DO NOTHING
        RETURNING id
        """,
        *fields.values(),
    )
    return key_id


async def get_key(conn: Conn, key_id: uuid.UUID) -> License | None:
    row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} {KEY_FROM} WHERE k.id = $1", key_id)
    return None if row is None else License.from_row(row)


async def get_key_by_hash(conn: Conn, digest: bytes) -> License | None:
    row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} {KEY_FROM} WHERE k.key_hash = $1", digest)
    return None if row is None else License.from_row(row)


VALIDATE_ACTIVATION_COLUMNS = """
    a.id AS a_id, a.machine_id AS a_machine_id, a.machine_name AS a_machine_name, a.platform AS a_platform,
    a.app_version AS a_app_version, a.last_seen_at AS a_last_seen_at, a.lease_expires_at AS a_lease_expires_at,
    a.created_at AS a_created_at
"""


async def validate_lookup(
    conn: Conn, digest: bytes, fingerprint: str | None, now: datetime, stale_before: datetime
) -> tuple[License, Activation | None] | None:
    """``validate`` in one statement: the key by its hash, the fingerprint's activation if any, and "last
    seen" recorded for that device when it is older than ``stale_before`` and the seat is in use (an active,
    unexpired key; a lease still running); the seat answered carries that sighting. None: no such key."""
    row = await conn.fetchrow(
        f"""
        WITH found AS (
            SELECT {KEY_COLUMNS}, {VALIDATE_ACTIVATION_COLUMNS}
            {KEY_FROM}
            LEFT JOIN license_activations a ON a.license_key_id = k.id AND a.machine_id = $2
            WHERE k.key_hash = $1
        ), seen AS (
            UPDATE license_activations SET last_seen_at = $3
            FROM found f
            WHERE license_activations.id = f.a_id AND license_activations.last_seen_at < $4
              AND f.status = 'active' AND (f.expires_at IS NULL OR f.expires_at > $3)
              AND (license_activations.lease_expires_at IS NULL OR license_activations.lease_expires_at > $3)
            RETURNING license_activations.last_seen_at
        )
        SELECT found.*, (SELECT last_seen_at FROM seen) AS a_seen_now FROM found
        """,
        digest,
        fingerprint,
        now,
        stale_before,
    )
    if row is None:
        return None
    license = License.from_row(row)
    if row["a_id"] is None:
        return license, None
    activation = Activation(
        id=row["a_id"],
        license_key_id=license.id,
        machine_id=row["a_machine_id"],
        machine_name=row["a_machine_name"],
        platform=row["a_platform"],
        app_version=row["a_app_version"],
        last_seen_at=row["a_seen_now"] or row["a_last_seen_at"],
        lease_expires_at=row["a_lease_expires_at"],
        created_at=row["a_created_at"],
    )
    return license, activation


async def lock_key_by_hash(conn: asyncpg.Connection, digest: bytes) -> License | None:
    """The key, its row locked until the transaction ends: activations of one key happen one at a time."""
    row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} {KEY_FROM} WHERE k.key_hash = $1 FOR UPDATE OF k", digest)
    return None if row is None else License.from_row(row)


async def lock_key(conn: asyncpg.Connection, key_id: uuid.UUID) -> License | None:
    row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} {KEY_FROM} WHERE k.id = $1 FOR UPDATE OF k", key_id)
    return None if row is None else License.from_row(row)


async def list_licensed_parts(conn: Conn, bundle_id: uuid.UUID) -> list[asyncpg.Record]:
    """The parts of a bundle whose license keys are on, in the bundle's order."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT i.id, i.title, i.enable_license_keys, i.license_max_activations, p.user_id AS creator_id
        FROM items i JOIN projects p ON p.id = i.project_id
        JOIN bundle_items b ON b.item_id = i.id
        WHERE b.bundle_id = $1 AND i.enable_license_keys
        ORDER BY b.sort_order, i.id
        """,
        bundle_id,
    )
    return rows


async def list_keys_of_owner(conn: Conn, owner_id: uuid.UUID) -> list[License]:
    rows = await conn.fetch(
        f"SELECT {KEY_COLUMNS} {KEY_FROM} WHERE k.owner_id = $1 ORDER BY k.created_at DESC", owner_id
    )
    return [License.from_row(r) for r in rows]


async def claim_comps(conn: Conn, user_id: uuid.UUID) -> int:
    """Give the account the comps issued to its e-mail address while nobody owned them, once that address is
    verified. Concurrent claims: the row lock makes the second re-check ``owner_id IS NULL`` and skip."""
    status: str = await conn.execute(
        """
        UPDATE license_keys k SET owner_id = u.id
        FROM users u
        WHERE u.id = $1 AND u.email_verified AND k.owner_id IS NULL AND k.issued_to_email IS NOT NULL
          AND lower(k.issued_to_email) = lower(u.email)
        """,
        user_id,
    )
    return int(status.split()[-1])


async def list_keys_of_item(conn: Conn, item_id: uuid.UUID, search: str, limit: int) -> list[License]:
    """The item's keys, newest first; ``search`` matches the key's last group, the owner's username or email,
    or the e-mail a comp was issued to."""
    rows = await conn.fetch(
        f"""
        SELECT {KEY_COLUMNS} {KEY_FROM}
        WHERE k.item_id = $1
          AND ($2 = '' OR k.key_last = upper($2) OR u.username ILIKE $3 OR u.email ILIKE $3
               OR k.issued_to_email ILIKE $3)
        ORDER BY k.created_at DESC LIMIT $4
        """,
        item_id,
        search,
        "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
        limit,
    )
    return [License.from_row(r) for r in rows]


async def update_key_status(
    conn: Conn, key_id: uuid.UUID, status: str, reason: str | None, *, by_refund: bool = False
) -> None:
    await conn.execute(
        """
        UPDATE license_keys SET status = $2, revoked_reason = $3, revoked_by_refund = $4,
               revoked_at = CASE WHEN $2 = 'revoked' THEN now() END,
               reinstated_at = CASE WHEN $2 = 'active' THEN now() ELSE reinstated_at END
        WHERE id = $1
        """,
        key_id,
        status,
        reason,
        by_refund,
    )


async def revoke_keys_of_transaction(conn: Conn, transaction_id: uuid.UUID, reason: str) -> int:
    status: str = await conn.execute(
        """
        UPDATE license_keys SET status = 'revoked', revoked_reason = $2, revoked_at = now(), revoked_by_refund = true
        WHERE transaction_id = $1 AND status <> 'revoked'
        """,
        transaction_id,
        reason,
    )
    return int(status.split()[-1])


async def restore_keys_of_transaction(conn: Conn, transaction_id: uuid.UUID) -> int:
    status: str = await conn.execute(
        """
        UPDATE license_keys SET status = 'active', revoked_reason = NULL, revoked_at = NULL, revoked_by_refund = false
        WHERE transaction_id = $1 AND revoked_by_refund
        """,
        transaction_id,
    )
    return int(status.split()[-1])


async def update_key_terms(
    conn: Conn, key_id: uuid.UUID, expires_at: datetime | None, max_activations: int | None
) -> None:
    await conn.execute(
        "UPDATE license_keys SET expires_at = $2, max_activations = $3 WHERE id = $1",
        key_id,
        expires_at,
        max_activations,
    )


async def set_last_swap(conn: Conn, key_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE license_keys SET last_swap_at = $2 WHERE id = $1", key_id, at)


async def recount_activations(conn: Conn, key_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        """
        UPDATE license_keys SET activation_count = (SELECT count(*) FROM license_activations WHERE license_key_id = $1)
        WHERE id = $1 RETURNING activation_count
        """,
        key_id,
    )
    return count


# Activations.


async def list_activations(conn: Conn, key_id: uuid.UUID) -> list[Activation]:
    rows = await conn.fetch(
        f"SELECT {ACTIVATION_COLUMNS} FROM license_activations WHERE license_key_id = $1 ORDER BY created_at",
        key_id,
    )
    return [Activation.from_row(r) for r in rows]


async def list_activations_of_keys(conn: Conn, key_ids: list[uuid.UUID]) -> list[Activation]:
    rows = await conn.fetch(
        f"SELECT {ACTIVATION_COLUMNS} FROM license_activations WHERE license_key_id = ANY($1::uuid[]) "
        "ORDER BY last_seen_at DESC",
        key_ids,
    )
    return [Activation.from_row(r) for r in rows]


async def get_activation(conn: Conn, key_id: uuid.UUID, fingerprint: str) -> Activation | None:
    row = await conn.fetchrow(
        f"SELECT {ACTIVATION_COLUMNS} FROM license_activations WHERE license_key_id = $1 AND machine_id = $2",
        key_id,
        fingerprint,
    )
    return None if row is None else Activation.from_row(row)


async def get_activation_by_id(conn: Conn, key_id: uuid.UUID, activation_id: uuid.UUID) -> Activation | None:
    row = await conn.fetchrow(
        f"SELECT {ACTIVATION_COLUMNS} FROM license_activations WHERE license_key_id = $1 AND id = $2",
        key_id,
        activation_id,
    )
    return None if row is None else Activation.from_row(row)


async def insert_activation(
    conn: Conn,
    key_id: uuid.UUID,
    fingerprint: str,
    name: str | None,
    platform: str | None,
    app_version: str | None,
    address: str | None,
    now: datetime,
    lease_expires_at: datetime | None,
) -> Activation:
    row = await conn.fetchrow(
        f"""
        INSERT INTO license_activations (license_key_id, machine_id, machine_name, platform, app_version,
                                         ip_address, last_seen_at, created_at, lease_expires_at)
        VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $7, $8)
        RETURNING {ACTIVATION_COLUMNS}
        """,
        key_id,
        fingerprint,
        name,
        platform,
        app_version,
        address,
        now,
        lease_expires_at,
    )
    assert row is not None
    return Activation.from_row(row)


async def touch_activation(
    conn: Conn, activation_id: uuid.UUID, now: datetime, lease_expires_at: datetime | None
) -> Activation | None:
    row = await conn.fetchrow(
        f"""
        UPDATE license_activations SET last_seen_at = $2, lease_expires_at = $3 WHERE id = $1
        RETURNING {ACTIVATION_COLUMNS}
        """,
        activation_id,
        now,
        lease_expires_at,
    )
    return None if row is None else Activation.from_row(row)


async def touch_seen_if_stale(conn: Conn, activation_id: uuid.UUID, now: datetime, stale_before: datetime) -> None:
    """Record a validation as "last seen", at most once a minute per device (validations are hot)."""
    await conn.execute(
        "UPDATE license_activations SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $3",
        activation_id,
        now,
        stale_before,
    )


async def delete_activation(conn: Conn, key_id: uuid.UUID, activation_id: uuid.UUID) -> bool:
    status: str = await conn.execute(
        "DELETE FROM license_activations WHERE license_key_id = $1 AND id = $2", key_id, activation_id
    )
    return status != "DELETE 0"


async def delete_all_activations(conn: Conn, key_id: uuid.UUID) -> int:
    status: str = await conn.execute("DELETE FROM license_activations WHERE license_key_id = $1", key_id)
    return int(status.split()[-1])


async def delete_dead_leases(conn: Conn, key_id: uuid.UUID, now: datetime) -> int:
    status: str = await conn.execute(
        "DELETE FROM license_activations WHERE license_key_id = $1 AND lease_expires_at <= $2", key_id, now
    )
    return int(status.split()[-1])


async def list_keys_with_dead_leases(conn: Conn, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT license_key_id FROM license_activations WHERE lease_expires_at <= $1 LIMIT $2", now, limit
    )
    return [r["license_key_id"] for r in rows]


# Signing keys.


async def get_current_signing_key(conn: Conn) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM license_signing_keys WHERE retired_at IS NULL")


async def get_signing_key(conn: Conn, kid: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM license_signing_keys WHERE kid = $1", kid)


async def list_signing_keys(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch("SELECT * FROM license_signing_keys ORDER BY created_at DESC")
    return rows


async def insert_signing_key_if_none(conn: Conn, kid: str, public_key: bytes, private_key: str) -> bool:
    """Add a current key unless one exists (two daemons creating the first key at once: one wins)."""
    status: str = await conn.execute(
        """
        INSERT INTO license_signing_keys (kid, public_key, private_key) VALUES ($1, $2, $3)
        ON CONFLICT ((true)) WHERE retired_at IS NULL DO NOTHING
        """,
        kid,
        public_key,
        private_key,
    )
    return status == "INSERT 0 1"


async def retire_current_signing_key(conn: Conn) -> None:
    await conn.execute("UPDATE license_signing_keys SET retired_at = now() WHERE retired_at IS NULL")


async def revoke_keys_of_refunded_transactions(conn: Conn) -> int:
    status: str = await conn.execute(
        """
        UPDATE license_keys k SET status = 'revoked', revoked_reason = 'refund', revoked_at = now(),
               revoked_by_refund = true
        FROM transactions t
        WHERE t.id = k.transaction_id AND t.status = 'refunded' AND k.status <> 'revoked'
          -- A key its creator reinstated after the refund stays as they left it.
          AND (k.reinstated_at IS NULL OR t.refunded_at IS NULL OR k.reinstated_at < t.refunded_at)
        """
    )
    return int(status.split()[-1])
