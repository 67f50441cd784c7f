"""Creators and their profiles: display name, bio, avatar (one of their media files), custom links.

A creator is a user with ``can_create_projects``; anyone else has no profile page (``/@name`` is not found for
them) and may not manage a catalog (`require_creator` raises `Forbidden`). A suspended creator's pages are not
found either.

- ``get_creator(pool, username)`` — the public `Creator` or None; ``get_creator_by_id(pool, user_id)``.
- ``update_profile(pool, creator, display_name=, bio=, avatar_media_id=)`` — validated; the avatar must be one
  of the creator's own media files (another's id is "no such media file").
- ``list_links``, ``add_link`` (http/https only, at most `MAX_LINKS`), ``delete_link`` (the creator's own).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

import asyncpg

from mnwd.errors import Forbidden, NotFound
from mnwd.store.fields import FieldErrors, parse_uuid
from mnwd.store.queries import catalog as queries

__all__ = [
    "MAX_BIO_CHARS",
    "MAX_LINKS",
    "Creator",
    "Link",
    "add_link",
    "avatar_src",
    "delete_link",
    "get_creator",
    "get_creator_by_id",
    "list_links",
    "require_creator",
    "update_profile",
]

MAX_BIO_CHARS = 2000
MAX_DISPLAY_NAME_CHARS = 100
MAX_LINKS = 20
MAX_URL_CHARS = 2000
NOT_A_CREATOR = "Only creators have a store. Ask an administrator to let your account create projects."


@dataclass(frozen=True)
class Creator:
    id: uuid.UUID
    username: str
    display_name: str | None
    bio: str | None
    avatar_media_id: uuid.UUID | None
    avatar_filename: str | None
    can_create_projects: bool
    creator_tier: str | None
    max_file_override_bytes: int | None
    storage_used_bytes: int
    suspended: bool
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Creator:
        return cls(
            id=row["id"],
            username=row["username"],
            display_name=row["display_name"],
            bio=row["bio"],
            avatar_media_id=row["avatar_media_id"],
            avatar_filename=row["avatar_filename"],
            can_create_projects=row["can_create_projects"],
            creator_tier=row["creator_tier"],
            max_file_override_bytes=row["max_file_override_bytes"],
            storage_used_bytes=row["storage_used_bytes"],
            suspended=row["suspended_at"] is not None,
            updated_at=row["updated_at"],
        )

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def url(self) -> str:
        return f"/@{self.username}"

    @property
    def avatar(self) -> str | None:
        if self.avatar_media_id is None or self.avatar_filename is None:
            return None
        return avatar_src(self.avatar_media_id, self.avatar_filename)


@dataclass(frozen=True)
class Link:
    id: uuid.UUID
    title: str
    url: str
    sort_order: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Link:
        return cls(row["id"], row["title"], row["url"], row["sort_order"])


def avatar_src(media_id: uuid.UUID, filename: str) -> str:
    """Where a media file is served (the media library's address for it: ``/media/{id}/{filename}``)."""
    return f"/media/{media_id}/{quote(filename)}"


async def get_creator(pool: asyncpg.Pool, username: str) -> Creator | None:
    row = await queries.get_creator_by_username(pool, username)
    if row is None or not row["can_create_projects"] or row["suspended_at"] is not None:
        return None
    return Creator.from_row(row)


async def get_creator_by_id(pool: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> Creator | None:
    row = await queries.get_creator(pool, user_id)
    return None if row is None else Creator.from_row(row)


async def require_creator(pool: asyncpg.Pool, user_id: uuid.UUID) -> Creator:
    """The caller as a creator; `Forbidden` for a user who may not create projects."""
    creator = await get_creator_by_id(pool, user_id)
    if creator is None or not creator.can_create_projects:
        raise Forbidden(NOT_A_CREATOR)
    if creator.suspended:
        raise Forbidden("This account is suspended.", slug="account-suspended")
    return creator


async def update_profile(
    pool: asyncpg.Pool, creator: Creator, *, display_name: str, bio: str, avatar_media_id: str
) -> None:
    errors = FieldErrors()
    name = errors.text("display_name", display_name, MAX_DISPLAY_NAME_CHARS)
    about = errors.text("bio", bio, MAX_BIO_CHARS)
    avatar: uuid.UUID | None = None
    if avatar_media_id.strip():
        avatar = parse_uuid(avatar_media_id.strip())
        if avatar is None or not await queries.media_file_owned(pool, creator.id, avatar):
            errors.add("avatar_media_id", "There is no such media file in your library.")
    errors.raise_if_any("The profile was not saved.")
    await queries.update_profile(pool, creator.id, display_name=name, bio=about, avatar_media_id=avatar)


async def list_links(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[Link]:
    return [Link.from_row(row) for row in await queries.list_links(pool, user_id)]


async def add_link(pool: asyncpg.Pool, creator: Creator, *, title: str, url: str, sort_order: str) -> Link:
    errors = FieldErrors()
    title = errors.title("title", title)
    url = url.strip()
    parts = urlsplit(url) if len(url) <= MAX_URL_CHARS else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc or any(c.isspace() for c in url):
        errors.add("url", f"Give an http:// or https:// address of at most {MAX_URL_CHARS} characters.")
    order = errors.number("sort_order", sort_order, integer=True)
    if order is not None and not -10_000 <= order <= 10_000:
        errors.add("sort_order", "Use a number between -10000 and 10000.")
    errors.raise_if_any("The link was not added.")
    if await queries.count_links(pool, creator.id) >= MAX_LINKS:
        errors.add("url", f"A profile has at most {MAX_LINKS} links.")
        errors.raise_if_any("The link was not added.")
    return Link.from_row(await queries.insert_link(pool, creator.id, title, url, int(order or 0)))


async def delete_link(pool: asyncpg.Pool, user_id: uuid.UUID, link_id: uuid.UUID) -> None:
    if not await queries.delete_link(pool, user_id, link_id):
        raise NotFound("There is no such link.")
