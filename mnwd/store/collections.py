"""Collections: a signed-in user's lists of items (reading lists, playlists, favourites), public or private,
in the order they choose.

The interface (``user_id`` is the acting user; someone else's collection id is `NotFound`, as if it did not
exist, and so is a private collection to anyone but its owner):

- ``create_collection(pool, user_id, CollectionInput)`` → id; ``update_collection(pool, user_id, id, ...)``;
  ``delete_collection(pool, user_id, id)``. Bad fields are `ValidationFailed`; a slug the user has for
  another collection is `Conflict` naming ``slug``.
- ``add_item(services, user_id, id, item_id, note)`` → True if added, False if it was there; the item must be
  one the user may see (public, or theirs), else `NotFound`; at most `MAX_ITEMS`.
- ``remove_item``, ``move_item(..., "up" | "down")`` (swaps with its neighbour), ``reorder(..., item_ids)``
  (the collection's items, each once, in their new order; anything else is `ValidationFailed`).
- ``get_visible_collection(pool, id, viewer_id)`` → `CollectionPage` (items the viewer may see, in order).
- ``list_collections(pool, user_id, item_id=None)`` — the user's collections; with ``item_id``, whether
  each holds it (the `store/collection_add.html` macro's list).

Every change to a collection's items runs in one transaction holding its row lock (``FOR UPDATE``), so two
adds racing get consecutive positions and a reorder never interleaves with an add.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.services import Services
from mnwd.store.blog import slug_from_title
from mnwd.store.queries import collections as queries

__all__ = [
    "MAX_ITEMS",
    "Collection",
    "CollectionInput",
    "CollectionItem",
    "CollectionPage",
    "add_item",
    "create_collection",
    "delete_collection",
    "get_owned_collection",
    "get_visible_collection",
    "list_collections",
    "move_item",
    "remove_item",
    "reorder",
    "update_collection",
]

MAX_ITEMS = 1000
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_NOTE_CHARS = 500
T = TypeVar("T")
NO_SUCH_COLLECTION = "There is no such collection."
NO_SUCH_ITEM = "There is no such item."
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


@dataclass(frozen=True)
class Collection:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    title: str
    slug: str
    description: str | None
    is_public: bool
    item_count: int
    created_at: datetime
    updated_at: datetime
    contains: bool = False

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Collection:
        values = dict(row)
        return cls(**values)

    @property
    def url(self) -> str:
        return f"/collections/{self.id}"

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "owner": self.owner,
            "title": self.title,
            "slug": self.slug,
            "description": self.description,
            "is_public": self.is_public,
            "item_count": self.item_count,
            "url": self.url,
        }


@dataclass(frozen=True)
class CollectionItem:
    """An item as a card (`store/_cards.html`) with its place in the collection."""

    id: uuid.UUID
    title: str
    item_type: str
    description: str | None
    price_cents: int
    currency: str
    pwyw_enabled: bool
    creator: str
    project_title: str
    url: str
    position: int
    note: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "item_id": self.id,
            "title": self.title,
            "item_type": self.item_type,
            "creator": self.creator,
            "project_title": self.project_title,
            "url": self.url,
            "position": self.position,
            "note": self.note,
        }


@dataclass(frozen=True)
class CollectionPage:
    collection: Collection
    items: list[CollectionItem]


@dataclass(frozen=True)
class CollectionInput:
    title: str
    slug: str = ""
    description: str = ""
    is_public: bool = False


def _checked(data: CollectionInput) -> tuple[str, str, str | None]:
    errors = []
    title = data.title.strip()
    if not title or len(title) > MAX_TITLE_CHARS or any(ord(c) < 32 for c in title):
        errors.append(
            {"field": "title", "message": f"Give the collection a title of 1 to {MAX_TITLE_CHARS} characters."}
        )
    slug = data.slug.strip() or slug_from_title(title)
    if _SLUG.fullmatch(slug) is None:
        errors.append({"field": "slug", "message": "A slug is 1 to 100 lowercase letters, digits, '-' and '_'."})
    description = data.description.strip()
    if len(description) > MAX_DESCRIPTION_CHARS or "\x00" in description:
        errors.append(
            {"field": "description", "message": f"A description is at most {MAX_DESCRIPTION_CHARS} characters."}
        )
    if errors:
        raise ValidationFailed("The collection was not saved.", errors=errors)
    return title, slug, description or None


def _slug_taken(slug: str) -> Conflict:
    message = f"You have another collection with the slug {slug}."
    return Conflict("The collection was not saved.", errors=[{"field": "slug", "message": message}])


async def create_collection(pool: asyncpg.Pool, user_id: uuid.UUID, data: CollectionInput) -> uuid.UUID:
    title, slug, description = _checked(data)
    created = await queries.insert_collection(
        pool, user_id, title=title, slug=slug, description=description, is_public=data.is_public
    )
    if created is None:
        raise _slug_taken(slug)
    return created


async def update_collection(
    pool: asyncpg.Pool, user_id: uuid.UUID, collection_id: uuid.UUID, data: CollectionInput
) -> None:
    title, slug, description = _checked(data)
    updated = await queries.update_collection(
        pool, collection_id, user_id, title=title, slug=slug, description=description, is_public=data.is_public
    )
    if updated is None:
        raise _slug_taken(slug)
    if not updated:
        raise NotFound(NO_SUCH_COLLECTION)


async def delete_collection(pool: asyncpg.Pool, user_id: uuid.UUID, collection_id: uuid.UUID) -> None:
    if not await queries.delete_collection(pool, collection_id, user_id):
        raise NotFound(NO_SUCH_COLLECTION)


async def get_owned_collection(pool: asyncpg.Pool, user_id: uuid.UUID, collection_id: uuid.UUID) -> Collection:
    row = await queries.get_collection(pool, collection_id)
    if row is None or row["user_id"] != user_id:
        raise NotFound(NO_SUCH_COLLECTION)
    return Collection.from_row(row)


async def list_collections(
    pool: asyncpg.Pool, user_id: uuid.UUID, item_id: uuid.UUID | None = None
) -> list[Collection]:
    return [Collection.from_row(r) for r in await queries.list_user_collections(pool, user_id, item_id)]


def _card(row: asyncpg.Record) -> CollectionItem:
    return CollectionItem(
        id=row["id"],
        title=row["title"],
        item_type=row["item_type"],
        description=row["description"],
        price_cents=row["price_cents"],
        currency=row["currency"],
        pwyw_enabled=row["pwyw_enabled"],
        creator=row["creator"],
        project_title=row["project_title"],
        url=f"/@{row['creator']}/{row['project_slug']}/{row['slug']}",
        position=row["position"],
        note=row["note"],
    )


async def get_visible_collection(
    pool: asyncpg.Pool, collection_id: uuid.UUID, viewer_id: uuid.UUID | None
) -> CollectionPage | None:
    row = await queries.get_collection(pool, collection_id)
    if row is None or not (row["is_public"] or row["user_id"] == viewer_id):
        return None
    rows = await queries.list_collection_items(pool, collection_id, viewer_id)
    return CollectionPage(Collection.from_row(row), [_card(r) for r in rows])


async def _change(
    services: Services,
    name: str,
    user_id: uuid.UUID,
    collection_id: uuid.UUID,
    body: Callable[[asyncpg.Connection], Awaitable[T]],
) -> T:
    async def run(tx: Tx) -> T:
        if not await queries.lock_owned_collection(tx.conn, collection_id, user_id):
            raise NotFound(NO_SUCH_COLLECTION)
        return await body(tx.conn)

    return await run_tx(services.pool, name, run, metrics=services.metrics)


async def add_item(
    services: Services, user_id: uuid.UUID, collection_id: uuid.UUID, item_id: uuid.UUID, note: str = ""
) -> bool:
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS or "\x00" in note:
        raise ValidationFailed(
            "The item was not added.",
            errors=[{"field": "note", "message": f"A note is at most {MAX_NOTE_CHARS} characters."}],
        )

    async def add(conn: asyncpg.Connection) -> bool:
        if not await queries.item_visible(conn, item_id, user_id):
            raise NotFound(NO_SUCH_ITEM)
        if await queries.count_collection_items(conn, collection_id) >= MAX_ITEMS:
            raise Conflict(f"A collection holds at most {MAX_ITEMS} items.")
        return await queries.insert_collection_item(conn, collection_id, item_id, note or None)

    return await _change(services, "store.collections.add", user_id, collection_id, add)


async def remove_item(services: Services, user_id: uuid.UUID, collection_id: uuid.UUID, item_id: uuid.UUID) -> None:
    async def remove(conn: asyncpg.Connection) -> bool:
        return await queries.delete_collection_item(conn, collection_id, item_id)

    if not await _change(services, "store.collections.remove", user_id, collection_id, remove):
        raise NotFound("That item is not in the collection.")


async def reorder(services: Services, user_id: uuid.UUID, collection_id: uuid.UUID, item_ids: list[uuid.UUID]) -> None:
    async def order(conn: asyncpg.Connection) -> None:
        current = await queries.list_item_ids(conn, collection_id)
        if len(item_ids) != len(set(item_ids)) or set(item_ids) != set(current):
            raise ValidationFailed(
                "The collection was not reordered.",
                errors=[{"field": "item_ids", "message": "List each item of the collection once, in the new order."}],
            )
        await queries.set_positions(conn, collection_id, item_ids)

    await _change(services, "store.collections.reorder", user_id, collection_id, order)


async def move_item(
    services: Services, user_id: uuid.UUID, collection_id: uuid.UUID, item_id: uuid.UUID, direction: str
) -> None:
    if direction not in ("up", "down"):
        raise ValidationFailed(
            "The item was not moved.", errors=[{"field": "direction", "message": "Move an item up or down."}]
        )

    async def move(conn: asyncpg.Connection) -> None:
        ids = await queries.list_item_ids(conn, collection_id)
        if item_id not in ids:
            raise NotFound("That item is not in the collection.")
        at = ids.index(item_id)
        to = at - 1 if direction == "up" else at + 1
        if 0 <= to < len(ids):
            ids[at], ids[to] = ids[to], ids[at]
        await queries.set_positions(conn, collection_id, ids)

    await _change(services, "store.collections.move", user_id, collection_id, move)
