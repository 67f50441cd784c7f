"""Rows the social tests stand on (projects, items, versions, tags), inserted with SQL, and tokens."""

from __future__ import annotations

import io
import uuid
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services

PROBLEM = "https://mnwd.dev/problems/"
Client = TestClient[web.Request, web.Application]


async def user_id(pool: asyncpg.Pool, username: str) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval("SELECT id FROM users WHERE username = $1", username)
    return value


async def make_creator(pool: asyncpg.Pool, username: str, *, tier: str | None = None) -> uuid.UUID:
    """Lets ``username`` (already made) create projects, in ``tier``."""
    value: uuid.UUID = await pool.fetchval(
        "UPDATE users SET can_create_projects = true, creator_tier = $2 WHERE username = $1 RETURNING id",
        username,
        tier,
    )
    return value


async def make_project(
    pool: asyncpg.Pool, owner: uuid.UUID, slug: str = "songs", *, public: bool = True, title: str | None = None
) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type, is_public) VALUES ($1, $2, $3, 'music', $4) "
        "RETURNING id",
        owner,
        slug,
        title or slug.title(),
        public,
    )
    return value


async def make_item(
    pool: asyncpg.Pool,
    project: uuid.UUID,
    slug: str = "first",
    *,
    public: bool = True,
    title: str | None = None,
    created_at: Any = None,
) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO items (project_id, slug, title, item_type, is_public, published_at, created_at) "
        "VALUES ($1, $2, $3, 'download', $4, CASE WHEN $4 THEN coalesce($5, now()) END, coalesce($5, now())) "
        "RETURNING id",
        project,
        slug,
        title or slug.title(),
        public,
        created_at,
    )
    return value


async def make_version(pool: asyncpg.Pool, item: uuid.UUID, number: str, *, created_at: Any = None) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO versions (item_id, version_number, changelog, created_at) VALUES ($1, $2, 'fixes', "
        "coalesce($3, now())) RETURNING id",
        item,
        number,
        created_at,
    )
    return value


async def make_tag(pool: asyncpg.Pool, slug: str, parent: uuid.UUID | None = None) -> uuid.UUID:
    path = slug
    if parent is not None:
        path = await pool.fetchval("SELECT path FROM tags WHERE id = $1", parent) + "." + slug
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO tags (parent_id, name, slug, path) VALUES ($1, $2, $2, $3) RETURNING id", parent, slug, path
    )
    return value


async def token(services: Services, username: str, *scopes: str) -> str:
    owner = await user_id(services.pool, username)
    issued = await create_token(services, owner, name="test", scopes=list(scopes), expires_days=None)
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (4, 3), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=kind)
    return out.getvalue()
