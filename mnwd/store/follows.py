"""Follows of users, projects and tags, and the feed of what they release.

The interface:

- ``parse_target(target_type, target_id)`` — a `Target` or `NotFound` (an unknown kind or a malformed id is
  answered like a thing that does not exist).
- ``follow(pool, follower_id, target)`` — True if new, False if already followed (following twice is not an
  error: a double click changes nothing). `NotFound` for a user, project or tag that does not exist or that
  the follower may not see (a private project is followable by its owner only); `ValidationFailed` for
  following oneself.
- ``unfollow(pool, follower_id, target)`` — True if there was a follow.
- ``followed_ids(pool, follower_id, target_type, ids)`` — which of ``ids`` the user follows (for pages that
  show many follow buttons), ``is_following``, ``count_followers``, ``list_follows``.
- ``feed(pool, follower_id, before=cursor, limit=)`` — `FeedPage`: entries newest first and the cursor of the
  next page. The cursor is ``<microseconds since the epoch>_<entry id>`` of the last entry: a keyset, so
  entries released while someone pages are neither repeated nor skipped.

The INSERT and DELETE are single statements on the UNIQUE (follower, type, target): two clicks racing
leave one row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from mnwd.errors import BadRequest, NotFound, ValidationFailed
from mnwd.store.queries import follows as queries

__all__ = [
    "FOLLOW_TYPES",
    "FeedEntry",
    "FeedPage",
    "Followed",
    "Target",
    "count_followers",
    "feed",
    "follow",
    "followed_ids",
    "is_following",
    "list_follows",
    "parse_target",
    "unfollow",
]

FOLLOW_TYPES = ("user", "project", "tag")
FEED_PAGE = 30
MAX_FEED_PAGE = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOTHING_TO_FOLLOW = "There is no such thing to follow."


@dataclass(frozen=True)
class Target:
    type: str
    id: uuid.UUID


@dataclass(frozen=True)
class Followed:
    type: str
    id: uuid.UUID
    name: str
    url: str
    since: datetime


@dataclass(frozen=True)
class FeedEntry:
    kind: str  # "version", "item" or "post"
    id: uuid.UUID
    at: datetime
    title: str
    url: str
    creator: str
    project_title: str
    version_number: str | None
    summary: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "at": self.at,
            "title": self.title,
            "url": self.url,
            "creator": self.creator,
            "project_title": self.project_title,
            "version_number": self.version_number,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    next_cursor: str | None


def parse_target(target_type: str, target_id: str) -> Target:
    if target_type not in FOLLOW_TYPES:
        raise NotFound(NOTHING_TO_FOLLOW)
    try:
        return Target(target_type, uuid.UUID(target_id))
    except ValueError:
        raise NotFound(NOTHING_TO_FOLLOW) from None


async def follow(pool: asyncpg.Pool, follower_id: uuid.UUID, target: Target) -> bool:
    if target.type == "user" and target.id == follower_id:
        raise ValidationFailed(
            "You cannot follow yourself.", errors=[{"field": "target_id", "message": "You cannot follow yourself."}]
        )
    # The target is checked and the follow inserted in one transaction-less pair: a target deleted in between
    # leaves a follow of nothing, which every read joins away.
    if await queries.get_follow_target(pool, target.type, target.id, follower_id) is None:
        raise NotFound(NOTHING_TO_FOLLOW)
    return await queries.insert_follow(pool, follower_id, target.type, target.id)


async def unfollow(pool: asyncpg.Pool, follower_id: uuid.UUID, target: Target) -> bool:
    return await queries.delete_follow(pool, follower_id, target.type, target.id)


async def followed_ids(
    pool: asyncpg.Pool, follower_id: uuid.UUID, target_type: str, ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    return await queries.list_followed_ids(pool, follower_id, target_type, ids)


async def is_following(pool: asyncpg.Pool, follower_id: uuid.UUID, target: Target) -> bool:
    return bool(await queries.list_followed_ids(pool, follower_id, target.type, [target.id]))


async def count_followers(pool: asyncpg.Pool, target: Target) -> int:
    return await queries.count_followers(pool, target.type, target.id)


async def list_follows(pool: asyncpg.Pool, follower_id: uuid.UUID) -> list[Followed]:
    return [
        Followed(r["target_type"], r["target_id"], r["name"], r["url"], r["created_at"])
        for r in await queries.list_follows(pool, follower_id)
    ]


def _encode_cursor(at: datetime, entry_id: uuid.UUID) -> str:
    micros = (at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{entry_id}"


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    micros, _, entry_id = cursor.partition("_")
    try:
        if not micros.lstrip("-").isdigit() or len(micros) > 19:
            raise ValueError(micros)
        return EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(entry_id)
    except (ValueError, OverflowError):
        raise BadRequest("The feed's 'before' cursor is not one this server gave.") from None


def _entry_url(row: asyncpg.Record) -> str:
    project = f"{row['creator']}/{row['project_slug']}"
    if row["kind"] == "post":
        return f"/blog/{project}/{row['post_slug']}"
    return f"/@{project}/{row['item_slug']}"


async def feed(
    pool: asyncpg.Pool, follower_id: uuid.UUID, *, before: str | None = None, limit: int = FEED_PAGE
) -> FeedPage:
    limit = max(1, min(limit, MAX_FEED_PAGE))
    before_at, before_id = _decode_cursor(before) if before else (None, None)
    rows = await queries.list_feed(pool, follower_id, before_at, before_id, limit + 1)
    entries = [
        FeedEntry(
            kind=r["kind"],
            id=r["id"],
            at=r["at"],
            title=r["title"],
            url=_entry_url(r),
            creator=r["creator"],
            project_title=r["project_title"],
            version_number=r["version_number"],
            summary=r["summary"],
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return FeedPage(entries, _encode_cursor(entries[-1].at, entries[-1].id) if more else None)
