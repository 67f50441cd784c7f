"""The parts inside an item: chapters (points in an audio or video item), sections (tabbed markdown blocks) and
the items of a bundle.

- ``add_chapter(pool, item, title=, start_seconds=, url=)`` — ``start_seconds`` unique per item (409
  `Conflict`); ``delete_chapter(pool, user_id, chapter_id)`` (another creator's chapter is not found).
- ``add_section(pool, item, title=, slug=, body=, sort_order=)`` — ``slug`` unique per item (`SlugTaken`);
  ``delete_section(pool, user_id, section_id)``.
- ``set_bundle_items(services, bundle, item_ids)`` — replaces what a ``bundle`` item holds, in the given order:
  each must be one of the creator's own items (others' ids are "no such item"), never the bundle itself (the
  CHECK ``bundle_items_not_self`` also refuses it), no repeats.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
from markupsafe import Markup

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound
from mnwd.services import Services
from mnwd.store.fields import MAX_BODY_CHARS, FieldErrors, SlugTaken
from mnwd.store.items import Item, rendered_body
from mnwd.store.queries import catalog as queries

__all__ = [
    "MAX_BUNDLE_ITEMS",
    "Chapter",
    "Section",
    "add_chapter",
    "add_section",
    "delete_chapter",
    "delete_section",
    "list_bundle_items",
    "list_chapters",
    "list_sections",
    "set_bundle_items",
]

MAX_BUNDLE_ITEMS = 200
MAX_START_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Chapter:
    id: uuid.UUID
    item_id: uuid.UUID
    title: str
    start_seconds: float
    url: str | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Chapter:
        return cls(row["id"], row["item_id"], row["title"], row["start_seconds"], row["url"])

    @property
    def timestamp(self) -> str:
        total = int(self.start_seconds)
        hours, rest = divmod(total, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "start_seconds": self.start_seconds, "url": self.url}


@dataclass(frozen=True)
class Section:
    id: uuid.UUID
    item_id: uuid.UUID
    title: str
    slug: str
    body: str
    sort_order: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Section:
        return cls(row["id"], row["item_id"], row["title"], row["slug"], row["body"], row["sort_order"])

    @property
    def html(self) -> Markup:
        return rendered_body(self.body)

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "slug": self.slug, "body": self.body, "sort_order": self.sort_order}


async def list_chapters(pool: asyncpg.Pool, item: Item) -> list[Chapter]:
    return [Chapter.from_row(row) for row in await queries.list_chapters(pool, item.id)]


async def add_chapter(
    pool: asyncpg.Pool, item: Item, *, title: str, start_seconds: float | None, url: str | None
) -> Chapter:
    errors = FieldErrors()
    title = errors.title("title", title)
    if start_seconds is None or not 0 <= start_seconds <= MAX_START_SECONDS:
        errors.add("start_seconds", "Give where the chapter starts, in seconds from 0.")
    link = (url or "").strip() or None
    if link is not None and (urlsplit(link).scheme not in {"http", "https"} or len(link) > 2000):
        errors.add("url", "Give an http:// or https:// address.")
    errors.raise_if_any("The chapter was not added.")
    assert start_seconds is not None
    try:
        row = await queries.insert_chapter(pool, item.id, title, float(start_seconds), link)
    except asyncpg.UniqueViolationError:
        raise Conflict("Another chapter of this item starts at that second.") from None
    await queries.touch_item(pool, item.id)
    return Chapter.from_row(row)


async def delete_chapter(pool: asyncpg.Pool, user_id: uuid.UUID, chapter_id: uuid.UUID) -> None:
    row = await queries.get_chapter(pool, chapter_id)
    item = None if row is None else await queries.get_item(pool, row["item_id"])
    if item is None or item["user_id"] != user_id:
        raise NotFound("There is no such chapter.")
    await queries.delete_chapter(pool, chapter_id)
    await queries.touch_item(pool, item["id"])


async def list_sections(pool: asyncpg.Pool, item: Item) -> list[Section]:
    return [Section.from_row(row) for row in await queries.list_sections(pool, item.id)]


async def add_section(
    pool: asyncpg.Pool, item: Item, *, title: str, slug: str, body: str, sort_order: int | None
) -> Section:
    errors = FieldErrors()
    title = errors.title("title", title)
    slug = errors.slug("slug", slug)
    text = errors.text("body", body, MAX_BODY_CHARS) or ""
    if sort_order is not None and not -10_000 <= sort_order <= 10_000:
        errors.add("sort_order", "Use a number between -10000 and 10000.")
    errors.raise_if_any("The section was not added.")
    try:
        row = await queries.insert_section(pool, item.id, title, slug, text, sort_order or 0)
    except asyncpg.UniqueViolationError:
        raise SlugTaken("This item already has a section with this slug.") from None
    await queries.touch_item(pool, item.id)
    return Section.from_row(row)


async def delete_section(pool: asyncpg.Pool, user_id: uuid.UUID, section_id: uuid.UUID) -> None:
    row = await queries.get_section(pool, section_id)
    item = None if row is None else await queries.get_item(pool, row["item_id"])
    if item is None or item["user_id"] != user_id:
        raise NotFound("There is no such section.")
    await queries.delete_section(pool, section_id)
    await queries.touch_item(pool, item["id"])


async def list_bundle_items(pool: asyncpg.Pool, bundle: Item, *, include_private: bool) -> list[Item]:
    rows = await queries.list_bundle_items(pool, bundle.id, include_private=include_private)
    return [Item.from_row(row) for row in rows]


async def set_bundle_items(services: Services, bundle: Item, item_ids: Sequence[uuid.UUID]) -> list[Item]:
    errors = FieldErrors()
    if bundle.item_type != "bundle":
        errors.add("item_ids", "Only an item of type bundle holds other items.")
    if bundle.id in item_ids:
        errors.add("item_ids", "A bundle cannot contain itself.")
    if len(set(item_ids)) != len(item_ids):
        errors.add("item_ids", "An item is listed twice.")
    if len(item_ids) > MAX_BUNDLE_ITEMS:
        errors.add("item_ids", f"A bundle holds at most {MAX_BUNDLE_ITEMS} items.")
    errors.raise_if_any("The bundle was not saved.")

    async def replace(tx: Tx) -> None:
        if not await queries.lock_item(tx.conn, bundle.id):
            raise NotFound("There is no such item.")
        if await queries.count_owned_items(tx.conn, bundle.user_id, item_ids) != len(item_ids):
            raise NotFound("There is no such item among yours.")
        await queries.replace_bundle_items(tx.conn, bundle.id, item_ids)
        await queries.touch_item(tx.conn, bundle.id)

    await run_tx(services.pool, "store.bundles.set", replace, metrics=services.metrics)
    return await list_bundle_items(services.pool, bundle, include_private=True)
