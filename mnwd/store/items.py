"""Items: what a project offers, at ``/@username/{project}/{item}``.

Input (API and forms alike): ``{slug, title, type, description, body, price_cents, pwyw_min_cents,
visibility, duration_seconds}``. ``slug`` is unique in its project (`SlugTaken`); ``type`` one of
`ITEM_TYPES`; ``body`` is markdown, shown rendered and sanitized (`mnwd.web.markdown`), its words counted and a
reading time kept (`READING_WORDS_PER_MINUTE`); ``price_cents >= 0`` (0: free); ``pwyw_min_cents`` set makes
the price "pay what you want" from that minimum (never above a non-zero suggested price); ``visibility``
``public`` (the default: an item is seen once its project is public) or ``private``; ``duration_seconds`` is
the length of an audio or video item.

Access (`can_view`): the owner always; anyone else when both the item and its project are public. Files
(`can_download`): the owner, and anyone for a free item (price 0, or pay what you want from 0); buyers of a
paid item through the download grants another domain registers (`mnwd.store.grants`: commerce).

Deletion runs `mnwd.store.deletions.ITEM_DELETION_HOOKS` in its transaction, before the row goes (commerce
expires the Checkout Sessions still open for the item).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from markupsafe import Markup

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound
from mnwd.services import Services
from mnwd.store import files
from mnwd.store.deletions import ITEM_DELETION_HOOKS, run_deletion_hooks
from mnwd.store.fields import MAX_BODY_CHARS, MAX_DESCRIPTION_CHARS, FieldErrors, SlugTaken
from mnwd.store.projects import VISIBILITIES, Project
from mnwd.store.queries import catalog as queries
from mnwd.web.markdown import plain_text_words, render_markdown

__all__ = [
    "ITEM_TYPES",
    "READING_WORDS_PER_MINUTE",
    "CurrentFile",
    "Item",
    "ItemPage",
    "can_download",
    "can_view",
    "check_item_input",
    "create_item",
    "delete_item",
    "find_item",
    "find_item_page",
    "get_owned_item",
    "item_not_found",
    "list_items",
    "reading_minutes",
    "rendered_body",
    "update_item",
]

ITEM_TYPES = ("article", "audio", "video", "download", "image", "bundle", "other")
READING_WORDS_PER_MINUTE = 200
MAX_DURATION_SECONDS = 7 * 24 * 3600.0
NO_SUCH_ITEM = "There is no such item."


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    project_id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    project_slug: str
    project_title: str
    project_is_public: bool
    slug: str
    title: str
    description: str | None
    item_type: str
    is_public: bool
    published_at: datetime | None
    price_cents: int
    currency: str
    pwyw_enabled: bool
    pwyw_min_cents: int | None
    body: str | None
    word_count: int | None
    reading_time_minutes: int | None
    duration_seconds: float | None
    video_duration_seconds: float | None
    download_count: int
    created_at: datetime
    updated_at: datetime
    # A creator (can_create_projects) whose account is not suspended: others see their public items.
    owner_active: bool

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Item:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def url(self) -> str:
        return f"/@{self.owner}/{self.project_slug}/{self.slug}"

    @property
    def project_url(self) -> str:
        return f"/@{self.owner}/{self.project_slug}"

    @property
    def visibility(self) -> str:
        return "public" if self.is_public else "private"

    @property
    def is_free(self) -> bool:
        if self.pwyw_enabled:
            return not self.pwyw_min_cents
        return self.price_cents == 0

    @property
    def duration(self) -> float | None:
        return self.video_duration_seconds if self.item_type == "video" else self.duration_seconds

    @property
    def price_label(self) -> str:
        def money(cents: int) -> str:
            return f"{cents / 100:.2f} {self.currency.upper()}"

        if self.pwyw_enabled:
            if self.pwyw_min_cents:
                return f"{money(self.pwyw_min_cents)} or more"
            return "Pay what you want"
        return "Free" if self.price_cents == 0 else money(self.price_cents)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "slug": self.slug,
            "title": self.title,
            "type": self.item_type,
            "description": self.description,
            "body": self.body,
            "word_count": self.word_count,
            "reading_time_minutes": self.reading_time_minutes,
            "price_cents": self.price_cents,
            "currency": self.currency,
            "pwyw_enabled": self.pwyw_enabled,
            "pwyw_min_cents": self.pwyw_min_cents,
            "free": self.is_free,
            "visibility": self.visibility,
            "duration_seconds": self.duration,
            "download_count": self.download_count,
            "published_at": self.published_at,
            "url": self.url,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def can_view(item: Item, user_id: uuid.UUID | None) -> bool:
    return item.user_id == user_id or (item.is_public and item.project_is_public and item.owner_active)


def can_download(item: Item, user_id: uuid.UUID | None) -> bool:
    return item.user_id == user_id or (can_view(item, user_id) and item.is_free)


def reading_minutes(words: int) -> int:
    return 0 if words == 0 else max(1, math.ceil(words / READING_WORDS_PER_MINUTE))


def rendered_body(body: str) -> Markup:
    """The body as sanitized HTML (item pages of visitors are kept rendered: `pages_catalog.RenderedPages`)."""
    return render_markdown(body)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def check_item_input(values: Mapping[str, Any], *, current: Item | None) -> dict[str, Any]:
    """The columns to write. Creating (no ``current``), a missing field takes its default (slug, title and
    type are required); updating, a missing field keeps its value. `ValidationFailed` names every bad field."""
    errors = FieldErrors()
    columns: dict[str, Any] = {}
    partial = current is not None
    if "slug" in values or not partial:
        columns["slug"] = errors.slug("slug", str(values.get("slug") or ""))
    if "title" in values or not partial:
        columns["title"] = errors.title("title", str(values.get("title") or ""))
    if "type" in values or not partial:
        columns["item_type"] = errors.choice("type", str(values.get("type") or ""), ITEM_TYPES)
    item_type = columns.get("item_type", current.item_type if current else "")
    if "description" in values or not partial:
        columns["description"] = errors.text("description", values.get("description"), MAX_DESCRIPTION_CHARS)
    if "body" in values or not partial:
        body = errors.text("body", values.get("body"), MAX_BODY_CHARS)
        columns["body"] = body
        # Words a reader sees: of the sanitized page text, not of markup or removed scripts.
        words = plain_text_words(rendered_body(body).striptags()) if body else 0
        columns["word_count"] = words
        columns["reading_time_minutes"] = reading_minutes(words)
    if "visibility" in values or not partial:
        visibility = str(values.get("visibility") or "public")
        columns["is_public"] = errors.choice("visibility", visibility, VISIBILITIES) == "public"
        if columns["is_public"] and (current is None or current.published_at is None):
            columns["published_at"] = datetime.now(UTC)
    if "price_cents" in values or not partial:
        columns["price_cents"] = errors.cents("price_cents", _int(values.get("price_cents")) or 0)
    if "pwyw_min_cents" in values or not partial:
        minimum = errors.cents("pwyw_min_cents", _int(values.get("pwyw_min_cents")))
        columns["pwyw_min_cents"] = minimum
        columns["pwyw_enabled"] = minimum is not None
    price = columns.get("price_cents", current.price_cents if current else 0)
    minimum = columns.get("pwyw_min_cents", current.pwyw_min_cents if current else None)
    if price and minimum is not None and minimum >= 0 and minimum > price > 0:
        errors.add("pwyw_min_cents", "The minimum of pay-what-you-want cannot be above the suggested price.")
    if "duration_seconds" in values:
        duration = values.get("duration_seconds")
        if duration is not None and not (0 <= float(duration) <= MAX_DURATION_SECONDS):
            errors.add("duration_seconds", "A duration is between 0 and a week, in seconds.")
        elif item_type not in {"audio", "video"} and duration is not None:
            errors.add("duration_seconds", "Only audio and video items have a duration.")
        else:
            column = "video_duration_seconds" if item_type == "video" else "duration_seconds"
            columns[column] = None if duration is None else float(duration)
    errors.raise_if_any("The item was not saved.")
    return columns


def _slug_taken(exc: asyncpg.UniqueViolationError) -> None:
    if exc.constraint_name == "items_project_id_slug_key":
        raise SlugTaken("This project already has an item with this slug; choose another.") from None
    raise exc


async def _load(conn: asyncpg.Pool | asyncpg.Connection, item_id: uuid.UUID) -> Item:
    row = await queries.get_item(conn, item_id)
    if row is None:
        raise NotFound(NO_SUCH_ITEM)
    return Item.from_row(row)


async def create_item(pool: asyncpg.Pool, project: Project, values: Mapping[str, Any]) -> Item:
    columns = check_item_input(values, current=None)
    try:
        item_id = await queries.insert_item(pool, project.id, columns)
    except asyncpg.UniqueViolationError as exc:
        _slug_taken(exc)
        raise
    return await _load(pool, item_id)


async def get_owned_item(pool: asyncpg.Pool, user_id: uuid.UUID, item_id: uuid.UUID) -> Item:
    """The item when ``user_id`` owns its project; anyone else's (or none) is `NotFound`."""
    row = await queries.get_item(pool, item_id)
    if row is None or row["user_id"] != user_id:
        raise NotFound(NO_SUCH_ITEM)
    return Item.from_row(row)


async def list_items(pool: asyncpg.Pool, project: Project, *, include_private: bool) -> list[Item]:
    rows = await queries.list_items(pool, project.id, include_private=include_private)
    return [Item.from_row(row) for row in rows]


async def update_item(pool: asyncpg.Pool, item: Item, values: Mapping[str, Any]) -> Item:
    columns = check_item_input(values, current=item)
    try:
        await queries.update_item(pool, item.id, columns)
    except asyncpg.UniqueViolationError as exc:
        _slug_taken(exc)
    return await _load(pool, item.id)


async def delete_item(services: Services, item: Item) -> None:
    """The item and its versions; the files' bytes go back to the creator's storage."""

    async def delete(tx: Tx) -> None:
        if not await queries.lock_item(tx.conn, item.id):
            raise NotFound(NO_SUCH_ITEM)
        await run_deletion_hooks(services, ITEM_DELETION_HOOKS, tx, item.id)
        stored = await queries.list_stored_files(tx.conn, item_id=item.id)
        await queries.delete_item(tx.conn, item.id)
        await files.forget_files(tx, item.user_id, stored)

    await run_tx(services.pool, "store.items.delete", delete, metrics=services.metrics)


@dataclass(frozen=True)
class CurrentFile:
    """The current version of an item, as its page shows it."""

    version_number: str
    changelog: str | None
    file_name: str | None
    content_type: str | None
    size: int
    sha256: str
    download_count: int
    created_at: datetime


@dataclass(frozen=True)
class ItemPage:
    item: Item
    owner_name: str
    current: CurrentFile | None
    # Changes whenever anything the page shows changes (but a bundle's items): the item (its versions,
    # chapters and sections touch it), its project, its owner.
    revision: str


def item_not_found() -> NotFound:
    return NotFound(NO_SUCH_ITEM)


async def find_item(pool: asyncpg.Pool, item_id: uuid.UUID) -> Item | None:
    row = await queries.get_item(pool, item_id)
    return None if row is None else Item.from_row(row)


async def find_item_page(
    pool: asyncpg.Pool, owner: str, project_slug: str, item_slug: str, viewer_id: uuid.UUID | None
) -> ItemPage:
    """The item at a public path with what its page shows (one query); `NotFound` unless ``viewer_id`` may see it."""
    row = await queries.get_item_page(pool, owner, project_slug, item_slug)
    if row is None:
        raise item_not_found()
    item = Item.from_row(row)
    if not can_view(item, viewer_id):
        raise item_not_found()
    current = None
    if row["v_id"] is not None:
        current = CurrentFile(
            row["v_version_number"],
            row["v_changelog"],
            row["v_file_name"],
            row["v_content_type"],
            row["v_file_size_bytes"],
            row["v_sha256"],
            row["v_download_count"],
            row["v_created_at"],
        )
    revision = (
        f"{item.updated_at.isoformat()}/{row['project_updated_at'].isoformat()}/{row['owner_updated_at'].isoformat()}"
    )
    return ItemPage(item, row["owner_display_name"] or owner, current, revision)


async def list_owned(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[Item]:
    """Every item of the creator's projects (the bundle form's choices)."""
    return [Item.from_row(row) for row in await queries.list_owned_items(pool, user_id)]
