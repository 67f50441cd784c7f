"""Catalog rows written straight into the database for discovery tests (projects, items, tags, labels), so that
search, tags and labels are tested without the catalog's own API."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def make_project(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    slug: str,
    title: str,
    *,
    description: str | None = None,
    project_type: str = "software",
    public: bool = True,
) -> uuid.UUID:
    project_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, description, project_type, is_public) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        user_id,
        slug,
        title,
        description,
        project_type,
        public,
    )
    return project_id


async def make_item(
    pool: asyncpg.Pool,
    project_id: uuid.UUID,
    slug: str,
    title: str,
    *,
    description: str | None = None,
    body: str | None = None,
    item_type: str = "download",
    price_cents: int = 0,
    public: bool = True,
    **counts: Any,
) -> uuid.UUID:
    item_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO items (project_id, slug, title, description, body, item_type, price_cents, is_public, "
        "published_at, sales_count, download_count) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 THEN now() END, $9, $10) RETURNING id",
        project_id,
        slug,
        title,
        description,
        body,
        item_type,
        price_cents,
        public,
        counts.get("sales_count", 0),
        counts.get("download_count", 0),
    )
    return item_id


async def make_tag(pool: asyncpg.Pool, slug: str, name: str, parent: str | None = None) -> uuid.UUID:
    parent_row = await pool.fetchrow("SELECT id, path FROM tags WHERE slug = $1", parent) if parent else None
    path = f"{parent_row['path']}.{slug}" if parent_row else slug
    tag_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO tags (parent_id, slug, name, path) VALUES ($1, $2, $3, $4) RETURNING id",
        parent_row["id"] if parent_row else None,
        slug,
        name,
        path,
    )
    return tag_id


async def tag_item(pool: asyncpg.Pool, item_id: uuid.UUID, tag_slug: str, *, primary: bool = False) -> None:
    await pool.execute(
        "INSERT INTO item_tags (item_id, tag_id, is_primary) SELECT $1, id, $3 FROM tags WHERE slug = $2",
        item_id,
        tag_slug,
        primary,
    )


async def label_project(pool: asyncpg.Pool, project_id: uuid.UUID, label_slug: str) -> None:
    await pool.execute(
        "INSERT INTO project_labels (project_id, label_id) SELECT $1, id FROM labels WHERE slug = $2",
        project_id,
        label_slug,
    )
