"""SQL of blog posts (``blog_posts``) and of the projects they belong to. Functions take a pool or connection
first; a post's ``is_live`` says whether its ``published_at`` has come (by the database's clock)."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

POST_COLUMNS = """
    b.id, b.project_id, p.slug AS project_slug, p.title AS project_title, p.is_public AS project_public,
    p.user_id AS owner_id, u.username AS owner, a.username AS author, b.title, b.slug, b.body_markdown,
    b.body_html, b.published_at, b.published_at IS NOT NULL AND b.published_at <= now() AS is_live,
    b.created_at, b.updated_at
"""
POST_FROM = """
    blog_posts b JOIN projects p ON p.id = b.project_id JOIN users u ON u.id = p.user_id
    JOIN users a ON a.id = b.author_id
"""
PROJECT_COLUMNS = "p.id, p.slug, p.title, p.description, p.is_public, p.user_id, u.username AS owner"


async def list_owned_projects(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PROJECT_COLUMNS} FROM projects p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1 "
        "ORDER BY lower(p.title)",
        user_id,
    )
    return rows


async def get_owned_project(conn: Conn, user_id: uuid.UUID, project_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PROJECT_COLUMNS} FROM projects p JOIN users u ON u.id = p.user_id WHERE p.id = $1 AND p.user_id = $2",
        project_id,
        user_id,
    )


async def get_project_by_path(conn: Conn, username: str, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PROJECT_COLUMNS} FROM projects p JOIN users u ON u.id = p.user_id "
        "WHERE u.username = $1 AND p.slug = $2",
        username,
        slug,
    )


async def insert_post(
    conn: Conn,
    *,
    project_id: uuid.UUID,
    author_id: uuid.UUID,
    title: str,
    slug: str,
    body_markdown: str,
    body_html: str,
    publish: bool,
) -> uuid.UUID | None:
    """The new post's id, or None when the project has a post with this slug. Published now with ``publish``."""
    value: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO blog_posts (project_id, author_id, title, slug, body_markdown, body_html, published_at)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END)
        ON CONFLICT ON CONSTRAINT blog_posts_project_id_slug_key DO NOTHING
        RETURNING id
        """,
        project_id,
        author_id,
        title,
        slug,
        body_markdown,
        body_html,
        publish,
    )
    return value


async def update_post(
    conn: Conn,
    post_id: uuid.UUID,
    *,
    title: str,
    slug: str,
    body_markdown: str,
    body_html: str,
    publish: bool,
) -> bool | None:
    """True when updated, False when there is no such post, None when another post of the project has the slug.
    With ``publish`` the post keeps its ``published_at`` or is published now; without, it is a draft again."""
    try:
        status: str = await conn.execute(
            "UPDATE blog_posts SET title = $2, slug = $3, body_markdown = $4, body_html = $5, "
            "published_at = CASE WHEN $6 THEN coalesce(published_at, now()) END WHERE id = $1",
            post_id,
            title,
            slug,
            body_markdown,
            body_html,
            publish,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "blog_posts_project_id_slug_key":
            return None
        raise
    return status != "UPDATE 0"


async def delete_post(conn: Conn, post_id: uuid.UUID) -> bool:
    status: str = await conn.execute("DELETE FROM blog_posts WHERE id = $1", post_id)
    return status != "DELETE 0"


async def get_post(conn: Conn, post_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE b.id = $1", post_id)


async def get_post_by_path(conn: Conn, username: str, project_slug: str, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE u.username = $1 AND p.slug = $2 AND b.slug = $3",
        username,
        project_slug,
        slug,
    )


async def list_owner_posts(conn: Conn, owner_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every post of the owner's projects, drafts first, then newest."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE p.user_id = $1 "
        "ORDER BY b.published_at DESC NULLS FIRST, b.created_at DESC",
        owner_id,
    )
    return rows


async def list_project_posts(conn: Conn, project_id: uuid.UUID, *, with_drafts: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT {POST_COLUMNS} FROM {POST_FROM}
        WHERE b.project_id = $1 AND ($2 OR (b.published_at IS NOT NULL AND b.published_at <= now()))
        ORDER BY b.published_at DESC NULLS FIRST, b.created_at DESC
        LIMIT 200
        """,
        project_id,
        with_drafts,
    )
    return rows
