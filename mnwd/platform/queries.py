"""SQL of the platform domain: invite codes, the waitlist and its waves, the admin audit log, admin views of
users and stats, custom domains. Only `mnwd.platform` imports this module."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# --- invite codes -------------------------------------------------------------------------------------------


async def insert_invite(
    conn: Conn, creator_id: uuid.UUID, code: str, max_uses: int, expires_at: datetime | None, note: str
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO invite_codes (creator_id, code, max_uses, expires_at, note) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id, code, max_uses, uses, expires_at, note, created_at",
        creator_id,
        code,
        max_uses,
        expires_at,
        note,
    )
    return row


async def list_invites(conn: Conn, creator_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """A creator's codes (all codes when ``creator_id`` is None), newest first."""
    return list(
        await conn.fetch(
            "SELECT i.id, i.code, i.max_uses, i.uses, i.expires_at, i.note, i.created_at, u.username AS creator "
            "FROM invite_codes i JOIN users u ON u.id = i.creator_id "
            "WHERE $1::uuid IS NULL OR i.creator_id = $1 ORDER BY i.created_at DESC LIMIT 200",
            creator_id,
        )
    )


async def take_invite_use(conn: Conn, code: str) -> uuid.UUID | None:
    """One use of a live code; None when unknown, expired or used up. The row lock orders concurrent takers and
    each re-reads ``uses`` after the one before it commits, so no more than ``max_uses`` ever succeed."""
    code_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE invite_codes SET uses = uses + 1 "
        "WHERE code = $1 AND uses < max_uses AND (expires_at IS NULL OR expires_at > now()) RETURNING id",
        code,
    )
    return code_id


async def insert_redemption(conn: Conn, code_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute("INSERT INTO invite_redemptions (code_id, user_id) VALUES ($1, $2)", code_id, user_id)


async def make_creator(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET can_create_projects = true, creator_tier = coalesce(creator_tier, 'basic') WHERE id = $1",
        user_id,
    )


# --- waitlist and waves -------------------------------------------------------------------------------------


async def get_waitlist_entry(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT w.id, w.status, w.pitch, w.portfolio_url, w.invited_at, w.created_at, v.wave_number "
        "FROM creator_waitlist w LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.user_id = $1",
        user_id,
    )


async def insert_waitlist_entry(conn: Conn, user_id: uuid.UUID, pitch: str, portfolio_url: str | None) -> bool:
    """False when the user is on the list already (the UNIQUE user_id decides two requests racing)."""
    created = await conn.fetchval(
        "INSERT INTO creator_waitlist (user_id, pitch, portfolio_url) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id) DO NOTHING RETURNING true",
        user_id,
        pitch,
        portfolio_url,
    )
    return bool(created)


async def list_waitlist(conn: Conn, status: str, limit: int = 200) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT w.id, w.status, w.pitch, w.portfolio_url, w.invited_at, w.created_at, u.username, u.email, "
            "v.wave_number FROM creator_waitlist w JOIN users u ON u.id = w.user_id "
            "LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.status = $1 ORDER BY w.created_at, w.id LIMIT $2",
            status,
            limit,
        )
    )


async def insert_wave(conn: Conn, capacity: int, name: str) -> asyncpg.Record:
    """The next wave; the table lock makes wave numbers of two admins racing follow each other."""
    await conn.execute("LOCK TABLE creator_waves IN SHARE ROW EXCLUSIVE MODE")
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO creator_waves (wave_number, name, capacity, opens_at) "
        "VALUES ((SELECT coalesce(max(wave_number), 0) + 1 FROM creator_waves), $1, $2, now()) "
        "RETURNING id, wave_number",
        name or None,
        capacity,
    )
    return row


async def invite_waitlisted(
    conn: Conn, wave_id: uuid.UUID, count: int, picked: list[uuid.UUID] | None
) -> list[asyncpg.Record]:
    """Moves up to ``count`` pending people (the oldest, or those ``picked``) into the wave; locked rows another
    wave is taking are skipped, so a person joins one wave only."""
    return list(
        await conn.fetch(
            "WITH chosen AS (SELECT id FROM creator_waitlist WHERE status = 'pending' "
            "  AND ($3::uuid[] IS NULL OR id = ANY($3)) ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
            "UPDATE creator_waitlist w SET status = 'invited', wave_id = $1, invited_at = now() "
            "FROM chosen WHERE w.id = chosen.id RETURNING w.id, w.user_id",
            wave_id,
            count,
            picked,
        )
    )


async def list_waves(conn: Conn) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT v.id, v.wave_number, v.name, v.capacity, v.opens_at, "
            "(SELECT count(*) FROM creator_waitlist w WHERE w.wave_id = v.id) AS invited "
            "FROM creator_waves v ORDER BY v.wave_number DESC LIMIT 100"
        )
    )


async def get_invitation(conn: Conn, waitlist_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT w.status, u.username, u.email, v.wave_number FROM creator_waitlist w "
        "JOIN users u ON u.id = w.user_id LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.id = $1",
        waitlist_id,
    )


async def count_waitlist(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM creator_waitlist GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


# --- audit log ----------------------------------------------------------------------------------------------


async def insert_audit(
    conn: Conn, admin_id: uuid.UUID, action: str, target_type: str, target_id: str, details: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO admin_audit_log (admin_id, admin_username, action, target_type, target_id, details) "
        "SELECT $1, username, $2, $3, $4, $5::jsonb FROM users WHERE id = $1",
        admin_id,
        action,
        target_type,
        target_id,
        json.dumps(details),
    )


async def list_audit(conn: Conn, limit: int, offset: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, admin_username, action, target_type, target_id, details::text AS details, created_at "
            "FROM admin_audit_log ORDER BY created_at DESC, id LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
    )
