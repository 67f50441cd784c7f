"""SQL of the apps domain. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from mnwd.errors import ValidationFailed

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

APP_COLUMNS = """
    a.id, a.creator_id, u.username AS creator_username, a.name, a.slug, a.redirect_uris, a.is_active,
    a.api_key_prefix, a.project_id, a.item_id, a.created_at, a.updated_at
"""

# A violated constraint of sync_apps, by name: the form field it concerns and what to tell the person.
_VIOLATIONS = {
    "sync_apps_slug_key": ("slug", "This slug is taken."),
    "sync_apps_project_id_fkey": ("project_id", "There is no such project."),
    "sync_apps_item_id_fkey": ("item_id", "There is no such item."),
}


def _violation(exc: asyncpg.IntegrityConstraintViolationError, detail: str) -> ValidationFailed | None:
    known = _VIOLATIONS.get(getattr(exc, "constraint_name", None) or "")
    if known is None:
        return None
    return ValidationFailed(detail, errors=[{"field": known[0], "message": known[1]}])


async def get_user_id_by_username(conn: Conn, username: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
    return user_id


async def get_app(conn: Conn, app_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id WHERE a.id = $1", app_id
    )


async def get_app_by_slug(conn: Conn, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id WHERE a.slug = $1", slug
    )


async def get_app_by_api_key_hash(conn: Conn, key_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id WHERE a.api_key_hash = $1",
        key_hash,
    )


async def get_creator_app(conn: Conn, creator_id: uuid.UUID, app_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id
        WHERE a.id = $1 AND a.creator_id = $2
        """,
        app_id,
        creator_id,
    )


async def list_creator_apps(conn: Conn, creator_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id
        WHERE a.creator_id = $1
        ORDER BY a.created_at DESC, a.slug
        """,
        creator_id,
    )
    return rows


async def list_all_apps(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {APP_COLUMNS} FROM sync_apps a JOIN users u ON u.id = a.creator_id ORDER BY a.slug"
    )
    return rows


async def slug_taken(conn: Conn, slug: str) -> bool:
    taken: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sync_apps WHERE slug = $1)", slug)
    return taken


async def lock_creator_app_count(conn: Conn, creator_id: uuid.UUID) -> asyncpg.Record | None:
    """The creator's effective tier and how many apps they have; the user row stays locked until the
    transaction ends, so two registrations racing count one after the other."""
    return await conn.fetchrow(
        "SELECT creator_effective_tier(creator_tier, grandfathered_until) AS tier, "
        "(SELECT count(*) FROM sync_apps WHERE creator_id = $1) AS apps FROM users WHERE id = $1 FOR UPDATE",
        creator_id,
    )


async def lock_owned_project(conn: Conn, owner_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    """True when the project is the owner's; it then stays until the transaction ends."""
    found: bool | None = await conn.fetchval(
        "SELECT true FROM projects WHERE id = $1 AND user_id = $2 FOR KEY SHARE", project_id, owner_id
    )
    return bool(found)


async def lock_owned_item(conn: Conn, owner_id: uuid.UUID, item_id: uuid.UUID) -> uuid.UUID | None:
    """The project of the item when the item is the owner's (it then stays until the transaction ends)."""
    project_id: uuid.UUID | None = await conn.fetchval(
        """
        SELECT i.project_id FROM items i JOIN projects p ON p.id = i.project_id
        WHERE i.id = $1 AND p.user_id = $2
        FOR KEY SHARE OF i
        """,
        item_id,
        owner_id,
    )
    return project_id


async def insert_app(
    conn: Conn,
    *,
    creator_id: uuid.UUID,
    name: str,
    slug: str,
    redirect_uris: Sequence[str],
    project_id: uuid.UUID | None,
    item_id: uuid.UUID | None,
    api_key_hash: bytes,
    api_key_prefix: str,
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            f"""
            WITH a AS (
                INSERT INTO sync_apps (creator_id, name, slug, redirect_uris, project_id, item_id,
                                       api_key_hash, api_key_prefix)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                RETURNING *
            )
            SELECT {APP_COLUMNS} FROM a JOIN users u ON u.id = a.creator_id
            """,
            creator_id,
            name,
            slug,
            list(redirect_uris),
            project_id,
            item_id,
            api_key_hash,
            api_key_prefix,
        )
    except (asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError) as exc:
        problem = _violation(exc, "The app was not registered.")
        if problem is None:
            raise
        raise problem from None
    return row


async def update_app(
    conn: Conn, app_id: uuid.UUID, *, name: str, redirect_uris: Sequence[str]
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE sync_apps a SET name = $2, redirect_uris = $3
        FROM users u WHERE a.id = $1 AND u.id = a.creator_id
        RETURNING {APP_COLUMNS}
        """,
        app_id,
        name,
        list(redirect_uris),
    )


async def update_api_key(
    conn: Conn, app_id: uuid.UUID, *, api_key_hash: bytes, api_key_prefix: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE sync_apps a SET api_key_hash = $2, api_key_prefix = $3
        FROM users u WHERE a.id = $1 AND u.id = a.creator_id
        RETURNING {APP_COLUMNS}
        """,
        app_id,
        api_key_hash,
        api_key_prefix,
    )


async def set_active(conn: Conn, app_id: uuid.UUID, active: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE sync_apps a SET is_active = $2
        FROM users u WHERE a.id = $1 AND u.id = a.creator_id
        RETURNING {APP_COLUMNS}
        """,
        app_id,
        active,
    )
