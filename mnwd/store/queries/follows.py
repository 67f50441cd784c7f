"""SQL of follows (``follows``: a user follows a user, a project or a tag) and of the feed built from them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def get_follow_target(
    conn: Conn, target_type: str, target_id: uuid.UUID, viewer_id: uuid.UUID
) -> asyncpg.Record | None:
    """``name`` and ``url`` of a followable thing the viewer may see (a private project only its owner)."""
    if target_type == "user":
        sql = "SELECT username AS name, '/@' || username AS url FROM users WHERE id = $1 AND $2::uuid IS NOT NULL"
    elif target_type == "project":
        sql = (
            "SELECT p.title AS name, '/@' || u.username || '/' || p.slug AS url FROM projects p "
            "JOIN users u ON u.id = p.user_id WHERE p.id = $1 AND (p.is_public OR p.user_id = $2)"
        )
    else:
        sql = "SELECT name, '/tags/' || slug AS url FROM tags WHERE id = $1 AND $2::uuid IS NOT NULL"
    return await conn.fetchrow(sql, target_id, viewer_id)


async def insert_follow(conn: Conn, follower_id: uuid.UUID, target_type: str, target_id: uuid.UUID) -> bool:
    """True when the follow is new."""
    value = await conn.fetchval(
        "INSERT INTO follows (follower_id, target_type, target_id) VALUES ($1, $2, $3) "
        "ON CONFLICT ON CONSTRAINT follows_follower_id_target_type_target_id_key DO NOTHING RETURNING id",
        follower_id,
        target_type,
        target_id,
    )
    return value is not None


async def delete_follow(conn: Conn, follower_id: uuid.UUID, target_type: str, target_id: uuid.UUID) -> bool:
    status: str = await conn.execute(
        "DELETE FROM follows WHERE follower_id = $1 AND target_type = $2 AND target_id = $3",
        follower_id,
        target_type,
        target_id,
    )
    return status != "DELETE 0"


async def list_followed_ids(
    conn: Conn, follower_id: uuid.UUID, target_type: str, target_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT target_id FROM follows WHERE follower_id = $1 AND target_type = $2 AND target_id = ANY($3::uuid[])",
        follower_id,
        target_type,
        target_ids,
    )
    return {r["target_id"] for r in rows}


async def count_followers(conn: Conn, target_type: str, target_id: uuid.UUID) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM follows WHERE target_type = $1 AND target_id = $2", target_type, target_id
    )
    return value


async def list_follows(conn: Conn, follower_id: uuid.UUID) -> list[asyncpg.Record]:
    """What a user follows, with a name and a page for each (a project since made private drops out)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT f.target_type, f.target_id, f.created_at, t.name, t.url FROM follows f
        CROSS JOIN LATERAL (
            SELECT u.username AS name, '/@' || u.username AS url FROM users u
            WHERE f.target_type = 'user' AND u.id = f.target_id
            UNION ALL
            SELECT p.title, '/@' || u.username || '/' || p.slug FROM projects p JOIN users u ON u.id = p.user_id
            WHERE f.target_type = 'project' AND p.id = f.target_id AND (p.is_public OR p.user_id = f.follower_id)
            UNION ALL
            SELECT g.name, '/tags/' || g.slug FROM tags g WHERE f.target_type = 'tag' AND g.id = f.target_id
        ) t
        WHERE f.follower_id = $1
        ORDER BY f.target_type, lower(t.name)
        """,
        follower_id,
    )
    return rows


async def list_feed(
    conn: Conn, follower_id: uuid.UUID, before_at: datetime | None, before_id: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """New item versions, items and published blog posts from followed users and projects, and items tagged
    with a followed tag or a tag below it; public ones only, newest first, before ``(before_at, before_id)``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        WITH followed AS (
            SELECT target_type, target_id FROM follows WHERE follower_id = $1
        ), projects_followed AS (
            SELECT p.id FROM projects p
            WHERE p.is_public AND (
                p.user_id IN (SELECT target_id FROM followed WHERE target_type = 'user')
                OR p.id IN (SELECT target_id FROM followed WHERE target_type = 'project'))
        ), tags_followed AS (
            SELECT below.id FROM followed f
            JOIN tags t ON f.target_type = 'tag' AND t.id = f.target_id
            JOIN tags below ON below.path = t.path OR below.path LIKE t.path || '.%'
        ), items_followed AS (
            SELECT i.id FROM items i JOIN projects p ON p.id = i.project_id
            WHERE i.is_public AND p.is_public AND coalesce(i.published_at, i.created_at) <= now() AND (
                i.project_id IN (SELECT id FROM projects_followed)
                OR i.id IN (SELECT item_id FROM item_tags WHERE tag_id IN (SELECT id FROM tags_followed)))
        ), entries AS (
            SELECT 'version' AS kind, v.id, v.created_at AS at, v.item_id, NULL::uuid AS post_id,
                   v.version_number, v.changelog AS summary
            FROM versions v WHERE v.item_id IN (SELECT id FROM items_followed)
            UNION ALL
            SELECT 'item', i.id, coalesce(i.published_at, i.created_at), i.id, NULL, NULL, i.description
            FROM items i WHERE i.id IN (SELECT id FROM items_followed)
            UNION ALL
            SELECT 'post', b.id, b.published_at, NULL, b.id, NULL, left(b.body_markdown, 300)
            FROM blog_posts b
            WHERE b.project_id IN (SELECT id FROM projects_followed) AND b.published_at <= now()
        )
        SELECT e.kind, e.id, e.at, e.version_number, e.summary,
               coalesce(i.title, b.title) AS title, i.slug AS item_slug, b.slug AS post_slug,
               p.slug AS project_slug, p.title AS project_title, u.username AS creator
        FROM entries e
        LEFT JOIN items i ON i.id = e.item_id
        LEFT JOIN blog_posts b ON b.id = e.post_id
        JOIN projects p ON p.id = coalesce(i.project_id, b.project_id)
        JOIN users u ON u.id = p.user_id
        WHERE $2::timestamptz IS NULL OR (e.at, e.id) < ($2, $3)
        ORDER BY e.at DESC, e.id DESC
        LIMIT $4
        """,
        follower_id,
        before_at,
        before_id,
        limit,
    )
    return rows


async def get_username(conn: Conn, user_id: uuid.UUID) -> str | None:
    name: str | None = await conn.fetchval("SELECT username FROM users WHERE id = $1", user_id)
    return name


async def get_release(conn: Conn, version_id: uuid.UUID) -> asyncpg.Record | None:
    """A version with its item, project and creator, for the release notification."""
    return await conn.fetchrow(
        "SELECT v.version_number, i.title AS item, i.slug AS item_slug, p.id AS project_id, p.slug AS project_slug, "
        "p.is_public AND i.is_public AS public, u.id AS creator_id, u.username AS creator "
        "FROM versions v JOIN items i ON i.id = v.item_id JOIN projects p ON p.id = i.project_id "
        "JOIN users u ON u.id = p.user_id WHERE v.id = $1",
        version_id,
    )


async def list_release_followers(conn: Conn, project_id: uuid.UUID, creator_id: uuid.UUID) -> list[uuid.UUID]:
    """Users following the project or its creator, each once, the creator excluded."""
    rows = await conn.fetch(
        "SELECT DISTINCT follower_id FROM follows WHERE ((target_type = 'project' AND target_id = $1) "
        "OR (target_type = 'user' AND target_id = $2)) AND follower_id <> $2",
        project_id,
        creator_id,
    )
    return [row["follower_id"] for row in rows]
