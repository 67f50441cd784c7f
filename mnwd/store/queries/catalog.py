"""SQL of the catalog: creators' profiles and links, categories, projects, items, file versions, chapters,
sections and bundles. Functions take a pool or connection first; the logic modules own the transactions.

Unique violations are mapped by constraint name (`SlugTaken`, `VersionTaken`, ...), never all to "exists".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# --- creators -----------------------------------------------------------------------------------------------

CREATOR_COLUMNS = """
    u.id, u.username, u.display_name, u.bio, u.avatar_media_id, m.filename AS avatar_filename, u.avatar_url,
    u.can_create_projects, creator_effective_tier(u.creator_tier, u.grandfathered_until) AS creator_tier,
    u.max_file_override_bytes, u.storage_used_bytes, u.suspended_at,
    u.updated_at
"""
CREATOR_FROM = "users u LEFT JOIN media_files m ON m.id = u.avatar_media_id"


async def get_creator_by_username(conn: Conn, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {CREATOR_COLUMNS} FROM {CREATOR_FROM} WHERE u.username = $1", username)


async def get_creator(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {CREATOR_COLUMNS} FROM {CREATOR_FROM} WHERE u.id = $1", user_id)


async def update_profile(
    conn: Conn, user_id: uuid.UUID, *, display_name: str | None, bio: str | None, avatar_media_id: uuid.UUID | None
) -> None:
    await conn.execute(
        "UPDATE users SET display_name = $2, bio = $3, avatar_media_id = $4 WHERE id = $1",
        user_id,
        display_name,
        bio,
        avatar_media_id,
    )


async def media_file_owned(conn: Conn, user_id: uuid.UUID, media_id: uuid.UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM media_files WHERE id = $1 AND user_id = $2)", media_id, user_id
    )
    return found


async def list_links(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, title, url, icon, sort_order FROM custom_links WHERE user_id = $1 ORDER BY sort_order, created_at",
        user_id,
    )
    return rows


async def count_links(conn: Conn, user_id: uuid.UUID) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM custom_links WHERE user_id = $1", user_id)
    return value


async def insert_link(conn: Conn, user_id: uuid.UUID, title: str, url: str, sort_order: int) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO custom_links (user_id, title, url, sort_order) VALUES ($1, $2, $3, $4) "
        "RETURNING id, title, url, icon, sort_order",
        user_id,
        title,
        url,
        sort_order,
    )
    return row


async def delete_link(conn: Conn, user_id: uuid.UUID, link_id: uuid.UUID) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM custom_links WHERE id = $1 AND user_id = $2 RETURNING id", link_id, user_id
    )
    return deleted is not None


# --- categories ---------------------------------------------------------------------------------------------


async def list_categories(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, slug, name, description FROM project_categories ORDER BY sort_order, name"
    )
    return rows


async def get_category_id(conn: Conn, slug: str) -> uuid.UUID | None:
    value: uuid.UUID | None = await conn.fetchval("SELECT id FROM project_categories WHERE slug = $1", slug)
    return value


# --- projects -----------------------------------------------------------------------------------------------

PROJECT_COLUMNS = """
    p.id, p.user_id, u.username AS owner, p.slug, p.title, p.description, p.project_type, p.is_public,
    c.slug AS category, c.name AS category_name, p.created_at, p.updated_at
"""
PROJECT_FROM = "projects p JOIN users u ON u.id = p.user_id LEFT JOIN project_categories c ON c.id = p.category_id"

# Columns a project's update may set (the logic layer names them; never user input).
PROJECT_FIELDS = frozenset({"slug", "title", "description", "project_type", "is_public", "category_id"})


async def count_projects(conn: Conn, user_id: uuid.UUID) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM projects WHERE user_id = $1", user_id)
    return value


async def insert_project(conn: Conn, user_id: uuid.UUID, values: Mapping[str, Any]) -> uuid.UUID:
    project_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO projects (user_id, slug, title, description, project_type, is_public, category_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        user_id,
        values["slug"],
        values["title"],
        values["description"],
        values["project_type"],
        values["is_public"],
        values["category_id"],
    )
    return project_id


async def get_project(conn: Conn, project_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} WHERE p.id = $1", project_id)


async def get_project_by_path(conn: Conn, owner: str, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} WHERE u.username = $1 AND p.slug = $2", owner, slug
    )


async def list_projects(conn: Conn, user_id: uuid.UUID, *, include_private: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} WHERE p.user_id = $1 AND ($2 OR p.is_public) "
        "ORDER BY p.created_at DESC",
        user_id,
        include_private,
    )
    return rows


def _assignments(changes: Mapping[str, Any], allowed: frozenset[str], first: int) -> tuple[str, list[Any]]:
    names = sorted(changes)
    unknown = set(names) - allowed
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    return ", ".join(f"{name} = ${first + i}" for i, name in enumerate(names)), [changes[n] for n in names]


async def update_project(conn: Conn, project_id: uuid.UUID, changes: Mapping[str, Any]) -> None:
    if not changes:
        return
    sets, values = _assignments(changes, PROJECT_FIELDS, 2)
    await conn.execute(f"UPDATE projects SET {sets} WHERE id = $1", project_id, *values)


async def delete_project(conn: Conn, project_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM projects WHERE id = $1", project_id)


async def lock_project(conn: Conn, project_id: uuid.UUID) -> bool:
    """The project's row and its items' rows, so no upload to one of them is recorded meanwhile."""
    found = await conn.fetchval("SELECT id FROM projects WHERE id = $1 FOR UPDATE", project_id)
    if found is not None:
        await conn.execute("SELECT id FROM items WHERE project_id = $1 ORDER BY id FOR UPDATE", project_id)
    return found is not None


# --- items --------------------------------------------------------------------------------------------------

ITEM_COLUMNS = """
    i.id, i.project_id, p.user_id, u.username AS owner, p.slug AS project_slug, p.title AS project_title,
    p.is_public AS project_is_public, i.slug, i.title, i.description, i.item_type, i.is_public, i.published_at,
    i.price_cents, i.currency, i.pwyw_enabled, i.pwyw_min_cents, i.body, i.word_count, i.reading_time_minutes,
    i.duration_seconds, i.video_duration_seconds, i.download_count, i.created_at, i.updated_at,
    (u.can_create_projects AND u.suspended_at IS NULL) AS owner_active
"""
ITEM_FROM = "items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id"

ITEM_FIELDS = frozenset(
    {
        "slug",
        "title",
        "description",
        "item_type",
        "is_public",
        "published_at",
        "price_cents",
        "pwyw_enabled",
        "pwyw_min_cents",
        "body",
        "word_count",
        "reading_time_minutes",
        "duration_seconds",
        "video_duration_seconds",
    }
)


async def insert_item(conn: Conn, project_id: uuid.UUID, values: Mapping[str, Any]) -> uuid.UUID:
    names = sorted(values)
    unknown = set(names) - ITEM_FIELDS
    if unknown:
        raise ValueError(f"not insertable: {sorted(unknown)}")
    columns = ", ".join(["project_id", *names])
    params = ", ".join(f"${i}" for i in range(1, len(names) + 2))
    item_id: uuid.UUID = await conn.fetchval(
        f"INSERT INTO items ({columns}) VALUES ({params}) RETURNING id", project_id, *(values[n] for n in names)
    )
    return item_id


async def get_item(conn: Conn, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.id = $1", item_id)


CURRENT_VERSION_COLUMNS = """
    v.id AS v_id, v.version_number AS v_version_number, v.changelog AS v_changelog, v.file_name AS v_file_name,
    v.content_type AS v_content_type, v.file_size_bytes AS v_file_size_bytes, v.sha256 AS v_sha256,
    v.download_count AS v_download_count, v.created_at AS v_created_at
"""


async def get_item_page(conn: Conn, owner: str, project_slug: str, item_slug: str) -> asyncpg.Record | None:
    """The item at a public path with its project, owner and current version (``v_*``, NULL when none): one
    round trip for the item page."""
    return await conn.fetchrow(
        f"SELECT {ITEM_COLUMNS}, u.display_name AS owner_display_name, p.updated_at AS project_updated_at, "
        f"u.updated_at AS owner_updated_at, {CURRENT_VERSION_COLUMNS} "
        f"FROM {ITEM_FROM} LEFT JOIN versions v ON v.item_id = i.id AND v.is_current "
        "WHERE u.username = $1 AND p.slug = $2 AND i.slug = $3",
        owner,
        project_slug,
        item_slug,
    )


async def list_items(conn: Conn, project_id: uuid.UUID, *, include_private: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.project_id = $1 AND ($2 OR i.is_public) "
        "ORDER BY coalesce(i.published_at, i.created_at) DESC, i.title",
        project_id,
        include_private,
    )
    return rows


async def list_owned_items(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE p.user_id = $1 ORDER BY p.title, i.title", user_id
    )
    return rows


async def update_item(conn: Conn, item_id: uuid.UUID, changes: Mapping[str, Any]) -> None:
    if not changes:
        return
    sets, values = _assignments(changes, ITEM_FIELDS, 2)
    await conn.execute(f"UPDATE items SET {sets} WHERE id = $1", item_id, *values)


async def touch_item(conn: Conn, item_id: uuid.UUID) -> None:
    """A change to what the item page shows besides the row itself (a version, a chapter)."""
    await conn.execute("UPDATE items SET updated_at = now() WHERE id = $1", item_id)


async def delete_item(conn: Conn, item_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM items WHERE id = $1", item_id)


async def lock_item(conn: Conn, item_id: uuid.UUID) -> bool:
    """Orders the writers of one item's versions: whoever holds this row lock decides which is current."""
    found = await conn.fetchval("SELECT id FROM items WHERE id = $1 FOR UPDATE", item_id)
    return found is not None


# --- versions -----------------------------------------------------------------------------------------------

VERSION_COLUMNS = """
    v.id, v.item_id, v.version_number, v.changelog, v.file_name, v.content_type, v.file_size_bytes, v.sha256,
    v.is_current, v.download_count, v.created_at
"""


async def clear_current_version(conn: Conn, item_id: uuid.UUID) -> None:
    await conn.execute("UPDATE versions SET is_current = false WHERE item_id = $1 AND is_current", item_id)


async def insert_version(
    conn: Conn,
    item_id: uuid.UUID,
    *,
    version_number: str,
    changelog: str | None,
    file_name: str,
    content_type: str | None,
    size: int,
    sha256: str,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO versions AS v (item_id, version_number, changelog, file_name, s3_key, content_type, "
        "file_size_bytes, sha256, is_current) VALUES ($1, $2, $3, $4, $7, $5, $6, $7, true) "
        f"RETURNING {VERSION_COLUMNS}",
        item_id,
        version_number,
        changelog,
        file_name,
        content_type,
        size,
        sha256,
    )
    return row


async def list_versions(conn: Conn, item_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {VERSION_COLUMNS} FROM versions v WHERE v.item_id = $1 ORDER BY v.created_at DESC, v.id", item_id
    )
    return rows


async def get_version(conn: Conn, version_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {VERSION_COLUMNS} FROM versions v WHERE v.id = $1", version_id)


async def get_version_by_number(conn: Conn, item_id: uuid.UUID, number: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {VERSION_COLUMNS} FROM versions v WHERE v.item_id = $1 AND v.version_number = $2", item_id, number
    )


async def get_current_version(conn: Conn, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {VERSION_COLUMNS} FROM versions v WHERE v.item_id = $1 AND v.is_current", item_id
    )


async def delete_version(conn: Conn, version_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"DELETE FROM versions v WHERE v.id = $1 RETURNING {VERSION_COLUMNS}", version_id)


async def make_newest_version_current(conn: Conn, item_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE versions SET is_current = true WHERE id = "
        "(SELECT id FROM versions WHERE item_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1)",
        item_id,
    )


async def count_download(conn: Conn, version_id: uuid.UUID, item_id: uuid.UUID) -> None:
    await conn.execute(
        "WITH v AS (UPDATE versions SET download_count = download_count + 1 WHERE id = $1) "
        "UPDATE items SET download_count = download_count + 1 WHERE id = $2",
        version_id,
        item_id,
    )


async def list_stored_files(
    conn: Conn, *, project_id: uuid.UUID | None = None, item_id: uuid.UUID | None = None
) -> list[asyncpg.Record]:
    """``(sha256, file_size_bytes)`` of every version under a project or an item, before it is deleted."""
    if item_id is not None:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT sha256, file_size_bytes FROM versions WHERE item_id = $1", item_id
        )
        return rows
    rows = await conn.fetch(
        "SELECT v.sha256, v.file_size_bytes FROM versions v JOIN items i ON i.id = v.item_id WHERE i.project_id = $1",
        project_id,
    )
    return rows


# --- chapters, sections, bundles ----------------------------------------------------------------------------


async def list_chapters(conn: Conn, item_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, item_id, title, start_seconds, url FROM chapters WHERE item_id = $1 ORDER BY start_seconds", item_id
    )
    return rows


async def insert_chapter(
    conn: Conn, item_id: uuid.UUID, title: str, start_seconds: float, url: str | None
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO chapters (item_id, title, start_seconds, url) VALUES ($1, $2, $3, $4) "
        "RETURNING id, item_id, title, start_seconds, url",
        item_id,
        title,
        start_seconds,
        url,
    )
    return row


async def get_chapter(conn: Conn, chapter_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, item_id, title, start_seconds, url FROM chapters WHERE id = $1", chapter_id)


async def delete_chapter(conn: Conn, chapter_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM chapters WHERE id = $1", chapter_id)


async def list_sections(conn: Conn, item_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, item_id, title, slug, body, sort_order FROM item_sections WHERE item_id = $1 "
        "ORDER BY sort_order, title",
        item_id,
    )
    return rows


async def insert_section(
    conn: Conn, item_id: uuid.UUID, title: str, slug: str, body: str, sort_order: int
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO item_sections (item_id, title, slug, body, sort_order) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id, item_id, title, slug, body, sort_order",
        item_id,
        title,
        slug,
        body,
        sort_order,
    )
    return row


async def get_section(conn: Conn, section_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, item_id, title, slug, body, sort_order FROM item_sections WHERE id = $1", section_id
    )


async def delete_section(conn: Conn, section_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM item_sections WHERE id = $1", section_id)


async def count_owned_items(conn: Conn, user_id: uuid.UUID, item_ids: Sequence[uuid.UUID]) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM items i JOIN projects p ON p.id = i.project_id WHERE p.user_id = $1 AND i.id = ANY($2)",
        user_id,
        list(item_ids),
    )
    return value


async def replace_bundle_items(conn: Conn, bundle_id: uuid.UUID, item_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM bundle_items WHERE bundle_id = $1", bundle_id)
    await conn.executemany(
        "INSERT INTO bundle_items (bundle_id, item_id, sort_order) VALUES ($1, $2, $3)",
        [(bundle_id, item_id, position) for position, item_id in enumerate(item_ids)],
    )


async def list_bundle_items(conn: Conn, bundle_id: uuid.UUID, *, include_private: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ITEM_COLUMNS} FROM bundle_items b JOIN ({ITEM_FROM}) ON i.id = b.item_id "
        "WHERE b.bundle_id = $1 AND ($2 OR (i.is_public AND p.is_public)) ORDER BY b.sort_order",
        bundle_id,
        include_private,
    )
    return rows


async def lock_creator(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
