"""SQL of the media library (``media_files``). Functions take a pool or connection first.

``s3_key`` is ``<sha256>/<media id>``: the bytes live once in the content-addressed `BlobStore` under the
hash, and the id keeps the column's UNIQUE true when one creator keeps the same image twice.
"""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

MEDIA_COLUMNS = """
    m.id, m.user_id, u.username AS owner, m.folder, m.filename, m.s3_key, m.content_type, m.size_bytes,
    m.width, m.height, m.alt_text, m.created_at, m.updated_at
"""


async def get_uploader(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    """What decides a creator's upload limits: tier, override, storage used, whether they may create."""
    return await conn.fetchrow(
        "SELECT id, creator_effective_tier(creator_tier, grandfathered_until) AS creator_tier, "
        "max_file_override_bytes, storage_used_bytes, can_create_projects "
        "FROM users WHERE id = $1",
        user_id,
    )


async def insert_media(
    conn: Conn,
    *,
    media_id: uuid.UUID,
    user_id: uuid.UUID,
    folder: str,
    filename: str,
    s3_key: str,
    content_type: str,
    size_bytes: int,
    width: int,
    height: int,
    alt_text: str | None,
) -> uuid.UUID | None:
    """The new row's id, or None when the creator has a file of this name in this folder."""
    value: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO media_files (id, user_id, folder, filename, s3_key, content_type, size_bytes, width, height,
                                 alt_text)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT ON CONSTRAINT media_files_user_id_folder_filename_key DO NOTHING
        RETURNING id
        """,
        media_id,
        user_id,
        folder,
        filename,
        s3_key,
        content_type,
        size_bytes,
        width,
        height,
        alt_text,
    )
    return value


async def get_media(conn: Conn, media_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MEDIA_COLUMNS} FROM media_files m JOIN users u ON u.id = m.user_id WHERE m.id = $1", media_id
    )


async def list_media(
    conn: Conn, user_id: uuid.UUID, folder: str | None, *, limit: int, offset: int
) -> list[asyncpg.Record]:
    """A creator's files, newest first; in one folder, or all when ``folder`` is None."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT {MEDIA_COLUMNS} FROM media_files m JOIN users u ON u.id = m.user_id
        WHERE m.user_id = $1 AND ($2::text IS NULL OR m.folder = $2)
        ORDER BY m.created_at DESC, m.id DESC LIMIT $3 OFFSET $4
        """,
        user_id,
        folder,
        limit,
        offset,
    )
    return rows


async def list_folders(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """Each folder with files, its number of files and bytes."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT folder, count(*) AS files, sum(size_bytes)::bigint AS bytes FROM media_files "
        "WHERE user_id = $1 GROUP BY folder ORDER BY folder",
        user_id,
    )
    return rows


async def delete_media(conn: Conn, user_id: uuid.UUID, media_id: uuid.UUID) -> asyncpg.Record | None:
    """Deletes the creator's file; its ``s3_key`` and ``size_bytes``, or None when they have no such file."""
    return await conn.fetchrow(
        "DELETE FROM media_files WHERE id = $1 AND user_id = $2 RETURNING s3_key, size_bytes", media_id, user_id
    )


async def blob_referenced(conn: Conn, sha256: str) -> bool:
    """Whether a file version or a media file names these bytes (the store's `mnwd.blobs.references` check;
    sync names its own)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM versions WHERE sha256 = $1) "
        "OR EXISTS (SELECT 1 FROM media_files WHERE s3_key LIKE $1 || '/%')",
        sha256,
    )
    return found
