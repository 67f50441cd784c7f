"""SQL of reports (``reports``): who reported which item, project, blog post or collection, why, and what an
admin decided."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# A target's name, page and owner, whatever its kind (NULL name: gone).
TARGET = """
    LEFT JOIN LATERAL (
        SELECT i.title AS target_name, '/@' || u.username || '/' || p.slug || '/' || i.slug AS target_url,
               u.username AS target_owner
        FROM items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id
        WHERE r.target_type = 'item' AND i.id = r.target_id
        UNION ALL
        SELECT p.title, '/@' || u.username || '/' || p.slug, u.username
        FROM projects p JOIN users u ON u.id = p.user_id
        WHERE r.target_type = 'project' AND p.id = r.target_id
        UNION ALL
        SELECT b.title, '/blog/' || u.username || '/' || p.slug || '/' || b.slug, u.username
        FROM blog_posts b JOIN projects p ON p.id = b.project_id JOIN users u ON u.id = p.user_id
        WHERE r.target_type = 'blog_post' AND b.id = r.target_id
        UNION ALL
        SELECT c.title, '/collections/' || c.id, u.username
        FROM collections c JOIN users u ON u.id = c.user_id
        WHERE r.target_type = 'collection' AND c.id = r.target_id
    ) t ON true
"""
REPORT_COLUMNS = """
    r.id, r.reporter_id, rep.username AS reporter, r.target_type, r.target_id, r.reason, r.details, r.status,
    res.username AS resolved_by, r.resolved_at, r.resolution_note, r.created_at,
    t.target_name, t.target_url, t.target_owner
"""
REPORT_FROM = f"""
    reports r LEFT JOIN users rep ON rep.id = r.reporter_id LEFT JOIN users res ON res.id = r.resolved_by_id
    {TARGET}
"""


async def get_visible_target(
    conn: Conn, target_type: str, target_id: uuid.UUID, viewer_id: uuid.UUID
) -> asyncpg.Record | None:
    """``name`` and ``url`` of an item, project, blog post or collection the viewer may see."""
    if target_type == "blog_post":
        sql = """
            SELECT b.title AS name, '/blog/' || u.username || '/' || p.slug || '/' || b.slug AS url
            FROM blog_posts b JOIN projects p ON p.id = b.project_id JOIN users u ON u.id = p.user_id
            WHERE b.id = $1
              AND ((p.is_public AND b.published_at IS NOT NULL AND b.published_at <= now()) OR p.user_id = $2)
        """
    elif target_type == "collection":
        sql = """
            SELECT c.title AS name, '/collections/' || c.id AS url
            FROM collections c WHERE c.id = $1 AND (c.is_public OR c.user_id = $2)
        """
    elif target_type == "item":
        sql = """
            SELECT i.title AS name, '/@' || u.username || '/' || p.slug || '/' || i.slug AS url
            FROM items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id
            WHERE i.id = $1 AND ((i.is_public AND p.is_public) OR p.user_id = $2)
        """
    else:
        sql = """
            SELECT p.title AS name, '/@' || u.username || '/' || p.slug AS url
            FROM projects p JOIN users u ON u.id = p.user_id WHERE p.id = $1 AND (p.is_public OR p.user_id = $2)
        """
    return await conn.fetchrow(sql, target_id, viewer_id)


async def insert_report(
    conn: Conn, reporter_id: uuid.UUID, target_type: str, target_id: uuid.UUID, reason: str, details: str
) -> uuid.UUID | None:
    """The new report's id, or None when this reporter has an open report of this target."""
    value: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO reports (reporter_id, target_type, target_id, reason, details) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (reporter_id, target_type, target_id) WHERE status = 'open' DO NOTHING
        RETURNING id
        """,
        reporter_id,
        target_type,
        target_id,
        reason,
        details,
    )
    return value


async def get_open_report(
    conn: Conn, reporter_id: uuid.UUID, target_type: str, target_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REPORT_COLUMNS} FROM {REPORT_FROM} "
        "WHERE r.reporter_id = $1 AND r.target_type = $2 AND r.target_id = $3 AND r.status = 'open'",
        reporter_id,
        target_type,
        target_id,
    )


async def get_report(conn: Conn, report_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {REPORT_COLUMNS} FROM {REPORT_FROM} WHERE r.id = $1", report_id)


async def list_reports(conn: Conn, status: str, *, limit: int, offset: int) -> list[asyncpg.Record]:
    """Reports of a status: open ones oldest first (a queue), decided ones newest first."""
    order = "r.created_at, r.id" if status == "open" else "r.resolved_at DESC, r.id"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {REPORT_COLUMNS} FROM {REPORT_FROM} WHERE r.status = $1 ORDER BY {order} LIMIT $2 OFFSET $3",
        status,
        limit,
        offset,
    )
    return rows


async def count_reports(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM reports GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def decide_report(conn: Conn, report_id: uuid.UUID, admin_id: uuid.UUID, status: str, note: str | None) -> bool:
    """Closes an open report; False when it is not open (decided already, or no such report)."""
    value = await conn.fetchval(
        "UPDATE reports SET status = $3, resolved_by_id = $2, resolved_at = now(), resolution_note = $4 "
        "WHERE id = $1 AND status = 'open' RETURNING true",
        report_id,
        admin_id,
        status,
        note,
    )
    return bool(value)


UNPUBLISH_SQL = {
    "item": "UPDATE items SET is_public = false WHERE id = $1 RETURNING true",
    "project": "UPDATE projects SET is_public = false WHERE id = $1 RETURNING true",
    "collection": "UPDATE collections SET is_public = false WHERE id = $1 RETURNING true",
    "blog_post": "UPDATE blog_posts SET published_at = NULL WHERE id = $1 RETURNING true",
}


async def unpublish_target(conn: Conn, target_type: str, target_id: uuid.UUID) -> bool:
    """Hides a reported thing from everyone but its owner; False when it is gone."""
    return bool(await conn.fetchval(UNPUBLISH_SQL[target_type], target_id))
