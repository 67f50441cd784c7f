"""Hierarchical tags: ``music``, below it ``music.electronic``, below that ``music.electronic.ambient``.
Administrators keep the tree; a creator tags their items, one tag primary; `/tags/{slug}` lists the items
of a tag and of the tags below it (`mnwd.store.search`).

Interface: `Tag`, `ItemTag`; `list_tags`, `list_root_tags`, `get_tag`, `get_tag_by_slug`, `tag_family`
(ancestors and children), `subtree_tag_ids`; `check_tag_fields`, `create_tag`, `update_tag`, `delete_tag`,
`deletion_impact` (admins); `check_item_tags` and `set_item_tags` (the item's creator; anyone else's item is
not found); `item_tags`.

A tag's ``path`` is its ancestors' slugs and its own, joined by dots, fixed when it is created: a slug never
changes, so paths never need rewriting. Deleting a tag deletes the tags below it and their taggings (the
schema's ON DELETE CASCADE).

Races: `set_item_tags` locks the item's row, so two changes of one item's tags take turns and the last wins
whole (never two primaries: the partial unique index would refuse it anyway); a tag deleted meanwhile fails
the insert (foreign key) and the change is refused (409) with nothing written. A parent deleted while a child
is created fails the child's insert the same way (422 on ``parent``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.store.queries import discovery as queries

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEM_TAGS",
    "SLUG",
    "ItemTag",
    "Tag",
    "TagFamily",
    "check_item_tags",
    "check_tag_fields",
    "clean_text",
    "create_tag",
    "delete_tag",
    "deletion_impact",
    "get_tag",
    "get_tag_by_slug",
    "has_control_character",
    "item_tags",
    "list_root_tags",
    "list_tags",
    "set_item_tags",
    "subtree_tag_ids",
    "tag_family",
    "update_tag",
]

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
MAX_DEPTH = 5
MAX_ITEM_TAGS = 10
MAX_NAME_CHARS = 60
MAX_DESCRIPTION_CHARS = 1000
NO_SUCH_ITEM = "There is no such item."
NO_SUCH_TAG = "There is no such tag."


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL."""
    return any(c < " " or c == "\x7f" for c in text)


def clean_text(text: str) -> str:
    """One line of text: surrounding space dropped, runs of whitespace made one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Tag:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    slug: str
    path: str
    description: str | None

    @property
    def depth(self) -> int:
        return self.path.count(".")

    @property
    def url(self) -> str:
        return f"/tags/{self.slug}"

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> Tag:
        return cls(row["id"], row["parent_id"], row["name"], row["slug"], row["path"], row["description"])


@dataclass(frozen=True)
class ItemTag:
    slug: str
    name: str
    path: str
    primary: bool


@dataclass(frozen=True)
class TagFamily:
    """A tag with the tags above it (root first) and right below it."""

    tag: Tag
    ancestors: list[Tag]
    children: list[Tag]


Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def list_tags(conn: Conn) -> list[Tag]:
    """Every tag, in tree order (a parent right before its children)."""
    return [Tag.from_record(r) for r in await queries.list_tags(conn)]


async def list_root_tags(conn: Conn) -> list[Tag]:
    return [Tag.from_record(r) for r in await queries.list_root_tags(conn)]


async def get_tag(conn: Conn, tag_id: uuid.UUID) -> Tag | None:
    row = await queries.get_tag(conn, tag_id)
    return Tag.from_record(row) if row else None


async def get_tag_by_slug(conn: Conn, slug: str) -> Tag | None:
    if not SLUG.fullmatch(slug):
        return None
    row = await queries.get_tag_by_slug(conn, slug)
    return Tag.from_record(row) if row else None


async def tag_family(conn: Conn, tag: Tag) -> TagFamily:
    segments = tag.path.split(".")
    above = [".".join(segments[:n]) for n in range(1, len(segments))]
    ancestors = [Tag.from_record(r) for r in await queries.list_tags_by_path(conn, above)] if above else []
    children = [Tag.from_record(r) for r in await queries.list_child_tags(conn, tag.id)]
    return TagFamily(tag, ancestors, children)


async def subtree_tag_ids(conn: Conn, tag: Tag) -> list[uuid.UUID]:
    return await queries.list_subtree_tag_ids(conn, tag.path)


@dataclass(frozen=True)
class TagFields:
    name: str
    slug: str
    parent: str
    description: str | None


def check_tag_fields(*, name: str, slug: str, parent: str, description: str, failed: str) -> TagFields:
    """A form's fields, checked; every problem reported at once (422). ``parent`` is a slug or ''."""
    errors: list[dict[str, str]] = []
    name = clean_text(name)
    if not name or len(name) > MAX_NAME_CHARS:
        errors.append({"field": "name", "message": f"Give a name of 1 to {MAX_NAME_CHARS} characters."})
    slug = slug.strip()
    if not SLUG.fullmatch(slug):
        errors.append({"field": "slug", "message": "Use lowercase letters, digits, - and _ (up to 100)."})
    parent = parent.strip()
    if parent and not SLUG.fullmatch(parent):
        errors.append({"field": "parent", "message": NO_SUCH_TAG})
    text = description.strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        errors.append({"field": "description", "message": f"Keep it under {MAX_DESCRIPTION_CHARS} characters."})
    if errors:
        raise ValidationFailed(failed, errors=errors)
    return TagFields(name, slug, parent, text or None)


async def create_tag(pool: asyncpg.Pool, fields: TagFields) -> Tag:
    failed = "The tag was not created."
    parent_id = None
    path = fields.slug
    if fields.parent:
        parent = await get_tag_by_slug(pool, fields.parent)
        if parent is None:
            raise ValidationFailed(failed, errors=[{"field": "parent", "message": NO_SUCH_TAG}])
        if parent.depth + 1 >= MAX_DEPTH:
            message = f"Tags go at most {MAX_DEPTH} levels deep."
            raise ValidationFailed(failed, errors=[{"field": "parent", "message": message}])
        parent_id, path = parent.id, f"{parent.path}.{fields.slug}"
    row = await queries.insert_tag(
        pool, parent_id=parent_id, name=fields.name, slug=fields.slug, path=path, description=fields.description
    )
    return Tag.from_record(row)


async def update_tag(pool: asyncpg.Pool, tag_id: uuid.UUID, fields: TagFields) -> Tag:
    """The name and description; the slug and the parent stay (links and paths name them)."""
    row = await queries.update_tag(pool, tag_id, name=fields.name, description=fields.description)
    if row is None:
        raise NotFound(NO_SUCH_TAG)
    return Tag.from_record(row)


async def deletion_impact(pool: asyncpg.Pool, tag: Tag) -> tuple[int, int]:
    """(tags, taggings) that deleting ``tag`` removes, itself included."""
    row = await queries.count_subtree(pool, tag.path)
    return row["tags"], row["taggings"]


async def delete_tag(pool: asyncpg.Pool, tag_id: uuid.UUID) -> None:
    if not await queries.delete_tag(pool, tag_id):
        raise NotFound(NO_SUCH_TAG)


def check_item_tags(tags: object, primary: object) -> tuple[list[str], str | None]:
    """A request's tag slugs (repeats dropped, order kept) and its primary one: the one named, else the first."""
    failed = "The tags were not saved."
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed(failed, errors=[{"field": "tags", "message": "Give a list of tag slugs."}])
    slugs = list(dict.fromkeys(t.strip() for t in tags))
    if len(slugs) > MAX_ITEM_TAGS:
        message = f"An item has at most {MAX_ITEM_TAGS} tags."
        raise ValidationFailed(failed, errors=[{"field": "tags", "message": message}])
    if primary is not None and not isinstance(primary, str):
        raise ValidationFailed(failed, errors=[{"field": "primary", "message": "Give one tag slug, or null."}])
    if primary is not None and primary.strip() not in slugs:
        message = "The primary tag must be one of the item's tags."
        raise ValidationFailed(failed, errors=[{"field": "primary", "message": message}])
    chosen = primary.strip() if primary is not None else (slugs[0] if slugs else None)
    return slugs, chosen


async def _resolve_tags(conn: asyncpg.Connection, slugs: Sequence[str]) -> list[Tag]:
    if not slugs:
        return []
    by_slug = {r["slug"]: Tag.from_record(r) for r in await queries.list_tags_by_slug(conn, slugs)}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        names = ", ".join(repr(s[:60]) for s in unknown[:5])
        raise ValidationFailed(
            "The tags were not saved.", errors=[{"field": "tags", "message": f"There is no tag {names}."}]
        )
    return [by_slug[s] for s in slugs]


async def item_tags(conn: Conn, item_id: uuid.UUID) -> list[ItemTag]:
    """The item's tags, the primary first."""
    rows = await queries.list_item_tags(conn, item_id)
    return [ItemTag(r["slug"], r["name"], r["path"], r["is_primary"]) for r in rows]


async def set_item_tags(
    pool: asyncpg.Pool, user_id: uuid.UUID, item_id: uuid.UUID, slugs: Sequence[str], primary: str | None
) -> list[ItemTag]:
    """Replaces the item's tags; only its creator may (anyone else: 404, as for an item that does not exist)."""

    async def body(tx: Tx) -> list[ItemTag]:
        owner = await queries.get_item_owner_for_update(tx.conn, item_id)
        if owner is None or owner != user_id:
            raise NotFound(NO_SUCH_ITEM)
        chosen = await _resolve_tags(tx.conn, slugs)
        primary_id = next((t.id for t in chosen if t.slug == primary), None)
        try:
            await queries.replace_item_tags(tx.conn, item_id, [t.id for t in chosen], primary_id)
        except asyncpg.ForeignKeyViolationError:
            raise Conflict("A tag was deleted meanwhile; nothing was saved. Try again.") from None
        return [ItemTag(t.slug, t.name, t.path, t.id == primary_id) for t in chosen]

    return await run_tx(pool, "store.set_item_tags", body)
