"""Blog posts of a project (devlogs, announcements): markdown kept as written and as sanitized HTML
(`mnwd.web.markdown.render_markdown`, rendered when saved), drafts, and publishing.

The interface:

- ``create_post(pool, owner_id, project_id, PostInput)`` → the post's id; ``update_post(pool, owner_id,
  post_id, PostInput)``; ``delete_post(pool, owner_id, post_id)``. Only the project's owner writes its posts:
  another user's project or post id is `NotFound`, as if it did not exist. Bad fields are
  `ValidationFailed` (per field); a slug another post of the project has is `Conflict` naming ``slug``.
- ``PostInput.publish``: a post is published when saved with it (``published_at`` set to now, or kept when
  already set) and back to a draft without it (``published_at`` NULL).
- ``get_visible_post(pool, username, project, slug, viewer_id)`` — a post its viewer may read: published
  (``published_at`` come) in a public project for everyone, anything for the project's owner; else None.
- ``list_visible_posts(pool, username, project, viewer_id)`` → ``(project, posts)`` or None.
- ``get_owned_post``, ``list_owner_posts``, ``list_owned_projects`` for the dashboard.

Slugs are unique per project by the table's UNIQUE, inserted with ON CONFLICT, so two saves racing for one
slug give one post and one `Conflict`.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from markupsafe import Markup

from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.store.queries import blog as queries
from mnwd.web.markdown import plain_text_words, render_markdown

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_TITLE_CHARS",
    "Post",
    "PostInput",
    "Project",
    "create_post",
    "delete_post",
    "get_owned_post",
    "get_visible_post",
    "list_owned_projects",
    "list_owner_posts",
    "list_visible_posts",
    "slug_from_title",
    "update_post",
]

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 200_000
NO_SUCH_POST = "There is no such post."
NO_SUCH_PROJECT = "There is no such project of yours."
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_BLOCK_TAG = re.compile(r"</?(?:p|h[1-6]|li|ul|ol|br|hr|div|blockquote|pre|tr|td|th|table|figure)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Project:
    id: uuid.UUID
    slug: str
    title: str
    description: str | None
    is_public: bool
    owner_id: uuid.UUID
    owner: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Project:
        return cls(
            row["id"], row["slug"], row["title"], row["description"], row["is_public"], row["user_id"], row["owner"]
        )

    @property
    def blog_url(self) -> str:
        return f"/blog/{self.owner}/{self.slug}"


@dataclass(frozen=True)
class Post:
    id: uuid.UUID
    project_id: uuid.UUID
    project_slug: str
    project_title: str
    project_public: bool
    owner_id: uuid.UUID
    owner: str
    author: str
    title: str
    slug: str
    body_markdown: str
    body_html: Markup
    published_at: datetime | None
    is_live: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Post:
        values = dict(row)
        values["body_html"] = Markup(values["body_html"])
        return cls(**values)

    @property
    def url(self) -> str:
        return f"/blog/{self.owner}/{self.project_slug}/{self.slug}"

    @property
    def is_public(self) -> bool:
        """Whether anyone may read it now."""
        return self.is_live and self.project_public

    @property
    def status(self) -> str:
        if self.published_at is None:
            return "draft"
        return "published" if self.is_live else "scheduled"

    @property
    def excerpt(self) -> str:
        """The first words of the text, markup removed: for link previews."""
        text = _BLOCK_TAG.sub(" ", str(self.body_html))
        text = html.unescape(_TAG.sub("", text))
        text = re.sub(r"\s+", " ", text).strip()
        return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + "…"

    @property
    def reading_minutes(self) -> int:
        return max(1, round(plain_text_words(self.body_markdown) / 200))


@dataclass(frozen=True)
class PostInput:
    title: str
    slug: str
    body: str
    publish: bool


def slug_from_title(title: str) -> str:
    slug = _NOT_SLUG.sub("-", title.lower()).strip("-")[:100].strip("-")
    return slug or "post"


def _checked(data: PostInput) -> tuple[str, str, str]:
    errors = []
    title = data.title.strip()
    if not title or len(title) > MAX_TITLE_CHARS or any(ord(c) < 32 for c in title):
        errors.append({"field": "title", "message": f"Give the post a title of 1 to {MAX_TITLE_CHARS} characters."})
    slug = data.slug.strip() or slug_from_title(title)
    if _SLUG.fullmatch(slug) is None:
        errors.append(
            {
                "field": "slug",
                "message": "A slug is 1 to 100 lowercase letters, digits, '-' and '_', "
                "starting with a letter or digit.",
            }
        )
    if len(data.body) > MAX_BODY_CHARS:
        errors.append({"field": "body", "message": f"A post is at most {MAX_BODY_CHARS:,} characters."})
    if "\x00" in data.body:
        errors.append({"field": "body", "message": "The text holds a NUL character."})
    if errors:
        raise ValidationFailed("The post was not saved.", errors=errors)
    return title, slug, data.body


def _slug_taken(slug: str) -> Conflict:
    message = f"Another post of this project has the slug {slug}."
    return Conflict("The post was not saved.", errors=[{"field": "slug", "message": message}])


async def list_owned_projects(pool: asyncpg.Pool, owner_id: uuid.UUID) -> list[Project]:
    return [Project.from_row(r) for r in await queries.list_owned_projects(pool, owner_id)]


async def create_post(pool: asyncpg.Pool, owner_id: uuid.UUID, project_id: uuid.UUID, data: PostInput) -> uuid.UUID:
    if await queries.get_owned_project(pool, owner_id, project_id) is None:
        raise NotFound(NO_SUCH_PROJECT)
    title, slug, body = _checked(data)
    post_id = await queries.insert_post(
        pool,
        project_id=project_id,
        author_id=owner_id,
        title=title,
        slug=slug,
        body_markdown=body,
        body_html=str(render_markdown(body)),
        publish=data.publish,
    )
    if post_id is None:
        raise _slug_taken(slug)
    return post_id


async def get_owned_post(pool: asyncpg.Pool, owner_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    row = await queries.get_post(pool, post_id)
    if row is None or row["owner_id"] != owner_id:
        raise NotFound(NO_SUCH_POST)
    return Post.from_row(row)


async def update_post(pool: asyncpg.Pool, owner_id: uuid.UUID, post_id: uuid.UUID, data: PostInput) -> None:
    post = await get_owned_post(pool, owner_id, post_id)
    title, slug, body = _checked(data)
    updated = await queries.update_post(
        pool,
        post.id,
        title=title,
        slug=slug,
        body_markdown=body,
        body_html=str(render_markdown(body)),
        publish=data.publish,
    )
    if updated is None:
        raise _slug_taken(slug)
    if not updated:
        raise NotFound(NO_SUCH_POST)


async def delete_post(pool: asyncpg.Pool, owner_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    post = await get_owned_post(pool, owner_id, post_id)
    if not await queries.delete_post(pool, post.id):
        raise NotFound(NO_SUCH_POST)
    return post


async def list_owner_posts(pool: asyncpg.Pool, owner_id: uuid.UUID) -> list[Post]:
    return [Post.from_row(r) for r in await queries.list_owner_posts(pool, owner_id)]


async def get_visible_post(
    pool: asyncpg.Pool, username: str, project_slug: str, slug: str, viewer_id: uuid.UUID | None
) -> Post | None:
    row = await queries.get_post_by_path(pool, username, project_slug, slug)
    if row is None:
        return None
    post = Post.from_row(row)
    return post if post.is_public or post.owner_id == viewer_id else None


async def list_visible_posts(
    pool: asyncpg.Pool, username: str, project_slug: str, viewer_id: uuid.UUID | None
) -> tuple[Project, list[Post]] | None:
    row = await queries.get_project_by_path(pool, username, project_slug)
    if row is None:
        return None
    project = Project.from_row(row)
    is_owner = project.owner_id == viewer_id
    if not project.is_public and not is_owner:
        return None
    rows = await queries.list_project_posts(pool, project.id, with_drafts=is_owner)
    return project, [Post.from_row(r) for r in rows]
