"""SQL of SSH keys (`ssh_keys`). Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

KEY_COLUMNS = "k.id, k.user_id, k.title, k.public_key, k.fingerprint, k.last_used_at, k.created_at"


async def insert_key(
    conn: Conn, user_id: uuid.UUID, title: str, public_key: str, fingerprint: str
) -> asyncpg.Record | None:
    """The new key, or ``None`` when its fingerprint is already registered (to anyone)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO ssh_keys AS k (user_id, title, public_key, fingerprint) VALUES ($1, $2, $3, $4) "
        f"ON CONFLICT ON CONSTRAINT ssh_keys_fingerprint_key DO NOTHING RETURNING {KEY_COLUMNS}",
        user_id,
        title,
        public_key,
        fingerprint,
    )
    return row


async def list_keys(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {KEY_COLUMNS} FROM ssh_keys k WHERE k.user_id = $1 ORDER BY k.created_at, k.id", user_id
    )
    return rows


async def count_keys(conn: Conn, user_id: uuid.UUID) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM ssh_keys WHERE user_id = $1", user_id)
    return count


async def delete_key(conn: Conn, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    deleted = await conn.fetchval("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING id", key_id, user_id)
    return deleted is not None


async def get_key_owner(conn: Conn, fingerprint: str) -> asyncpg.Record | None:
    """The key and its account (id, username), if the account is not suspended."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT k.id AS key_id, u.id AS user_id, u.username FROM ssh_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.fingerprint = $1 AND u.suspended_at IS NULL",
        fingerprint,
    )
    return row


async def update_key_used(conn: Conn, key_id: uuid.UUID) -> None:
    await conn.execute("UPDATE ssh_keys SET last_used_at = now() WHERE id = $1", key_id)


async def get_user_id(conn: Conn, username: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE username = lower($1)", username)
    return user_id
