"""SQL of collections (``collections``, ``collection_items``): a user's lists of items, in ``position``
order. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

COLLECTION_COLUMNS = """
    c.id, c.user_id, u.username AS owner, c.title, c.slug, c.description, c.is_public, c.created_at, c.updated_at,
    (SELECT count(*) FROM collection_items ci WHERE ci.collection_id = c.id) AS item_count
"""
# An item a viewer ($2) may see: public in a public project, or in a project of theirs.
VISIBLE_ITEM = "((i.is_public AND p.is_public) OR p.user_id = $2)"


async def insert_collection(
    conn: Conn, user_id: uuid.UUID, *, title: str, slug: str, description: str | None, is_public: bool
) -> uuid.UUID | None:
    """The new id, or None when the user has a collection with this slug."""
    value: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO collections (user_id, title, slug, description, is_public) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT ON CONSTRAINT collections_user_id_slug_key DO NOTHING RETURNING id
        """,
        user_id,
        title,
        slug,
        description,
        is_public,
    )
    return value


async def update_collection(
    conn: Conn,
    collection_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    title: str,
    slug: str,
    description: str | None,
    is_public: bool,
) -> bool | None:
    """True when updated, False when the user has no such collection, None when the slug is taken."""
    try:
        status: str = await conn.execute(
            "UPDATE collections SET title = $3, slug = $4, description = $5, is_public = $6 "
            "WHERE id = $1 AND user_id = $2",
            collection_id,
            user_id,
            title,
            slug,
            description,
            is_public,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "collections_user_id_slug_key":
            return None
        raise
    return status != "UPDATE 0"


async def delete_collection(conn: Conn, collection_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    status: str = await conn.execute("DELETE FROM collections WHERE id = $1 AND user_id = $2", collection_id, user_id)
    return status != "DELETE 0"


async def get_collection(conn: Conn, collection_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLLECTION_COLUMNS} FROM collections c JOIN users u ON u.id = c.user_id WHERE c.id = $1",
        collection_id,
    )


async def lock_owned_collection(conn: Conn, collection_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Locks the user's collection row until the transaction ends (changes to its items queue behind)."""
    found = await conn.fetchval(
        "SELECT true FROM collections WHERE id = $1 AND user_id = $2 FOR UPDATE", collection_id, user_id
    )
    return bool(found)


async def list_user_collections(
    conn: Conn, user_id: uuid.UUID, item_id: uuid.UUID | None = None
) -> list[asyncpg.Record]:
    """The user's collections by title; ``contains`` says whether ``item_id`` is in each."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT {COLLECTION_COLUMNS},
               EXISTS (SELECT 1 FROM collection_items x WHERE x.collection_id = c.id AND x.item_id = $2) AS contains
        FROM collections c JOIN users u ON u.id = c.user_id
        WHERE c.user_id = $1 ORDER BY lower(c.title), c.created_at LIMIT 500
        """,
        user_id,
        item_id,
    )
    return rows


async def item_visible(conn: Conn, item_id: uuid.UUID, viewer_id: uuid.UUID) -> bool:
    found = await conn.fetchval(
        f"SELECT true FROM items i JOIN projects p ON p.id = i.project_id WHERE i.id = $1 AND {VISIBLE_ITEM}",
        item_id,
        viewer_id,
    )
    return bool(found)


async def count_collection_items(conn: Conn, collection_id: uuid.UUID) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM collection_items WHERE collection_id = $1", collection_id)
    return value


async def insert_collection_item(conn: Conn, collection_id: uuid.UUID, item_id: uuid.UUID, note: str | None) -> bool:
    """Appends the item (after the last position); False when it is in the collection already."""
    value = await conn.fetchval(
        """
        INSERT INTO collection_items (collection_id, item_id, position, note)
        SELECT $1, $2, coalesce(max(position) + 1, 0), $3 FROM collection_items WHERE collection_id = $1
        ON CONFLICT ON CONSTRAINT collection_items_pkey DO NOTHING RETURNING true
        """,
        collection_id,
        item_id,
        note,
    )
    return bool(value)


async def delete_collection_item(conn: Conn, collection_id: uuid.UUID, item_id: uuid.UUID) -> bool:
    status: str = await conn.execute(
        "DELETE FROM collection_items WHERE collection_id = $1 AND item_id = $2", collection_id, item_id
    )
    return status != "DELETE 0"


async def list_item_ids(conn: Conn, collection_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT item_id FROM collection_items WHERE collection_id = $1 ORDER BY position, created_at, item_id",
        collection_id,
    )
    return [r["item_id"] for r in rows]


async def set_positions(conn: Conn, collection_id: uuid.UUID, item_ids: list[uuid.UUID]) -> None:
    """Positions 0, 1, 2... in the order of ``item_ids``."""
    await conn.execute(
        """
        UPDATE collection_items ci SET position = o.n - 1
        FROM unnest($2::uuid[]) WITH ORDINALITY AS o(item_id, n)
        WHERE ci.collection_id = $1 AND ci.item_id = o.item_id AND ci.position <> o.n - 1
        """,
        collection_id,
        item_ids,
    )


async def list_collection_items(
    conn: Conn, collection_id: uuid.UUID, viewer_id: uuid.UUID | None
) -> list[asyncpg.Record]:
    """The items the viewer may see, in position order, as cards."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT i.id, i.slug, i.title, i.item_type, i.description, i.price_cents, i.currency, i.pwyw_enabled,
               p.slug AS project_slug, p.title AS project_title, u.username AS creator, ci.position, ci.note
        FROM collection_items ci
        JOIN items i ON i.id = ci.item_id
        JOIN projects p ON p.id = i.project_id
        JOIN users u ON u.id = p.user_id
        WHERE ci.collection_id = $1 AND {VISIBLE_ITEM}
        ORDER BY ci.position, ci.created_at, ci.item_id
        """,
        collection_id,
        viewer_id,
    )
    return rows
