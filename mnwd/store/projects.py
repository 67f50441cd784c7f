"""Projects: a creator's shelves of items, at ``/@username/{slug}``.

Input (API and forms alike) is ``{slug, title, type, description, visibility, category}``: ``slug`` unique per
creator (`SlugTaken`, 409), ``type`` one of `PROJECT_TYPES`, ``visibility`` ``public`` or ``private``,
``category`` the slug of a `project_categories` row (or empty for none).

Access (`can_view`): the owner sees their projects; anyone sees a public one; a private project is "not found"
to everyone else, and so is anyone's project id given to another creator's form or API call
(`get_owned_project`).

Races: the slug is unique by constraint, so two creates with one slug give one project and one 409; creation
locks the creator's ``users`` row, so two creates cannot both pass the tier's project count. Deletion locks the
project's items before it lists their files, so an upload to one of them either commits first (its bytes are
given back with the others) or finds its item gone (and keeps nothing). The row locks also make a checkout
of one of its tiers either commit its ``subscriptions`` row first (the deletion hooks see it) or fail on the
project that is gone.

Deletion runs `mnwd.store.deletions.PROJECT_DELETION_HOOKS` in its transaction, before the rows go: commerce
cancels at Stripe what the project's subscribers would still be billed (see `mnwd.commerce.cancellations`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound
from mnwd.services import Services
from mnwd.store import files
from mnwd.store.creators import Creator
from mnwd.store.deletions import PROJECT_DELETION_HOOKS, run_deletion_hooks
from mnwd.store.fields import MAX_DESCRIPTION_CHARS, FieldErrors, ProjectLimit, SlugTaken
from mnwd.store.limits import limits_for
from mnwd.store.queries import catalog as queries

__all__ = [
    "PROJECT_TYPES",
    "VISIBILITIES",
    "Category",
    "Project",
    "can_view",
    "check_project_input",
    "create_project",
    "delete_project",
    "get_owned_project",
    "get_visible_project",
    "list_categories",
    "list_projects",
    "update_project",
]

PROJECT_TYPES = ("music", "software", "podcast", "writing", "video", "art", "game", "course", "other")
VISIBILITIES = ("public", "private")
NO_SUCH_PROJECT = "There is no such project."


@dataclass(frozen=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True)
class Project:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    slug: str
    title: str
    description: str | None
    project_type: str
    is_public: bool
    category: str | None
    category_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Project:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def url(self) -> str:
        return f"/@{self.owner}/{self.slug}"

    @property
    def visibility(self) -> str:
        return "public" if self.is_public else "private"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "type": self.project_type,
            "description": self.description,
            "visibility": self.visibility,
            "category": self.category,
            "owner": self.owner,
            "url": self.url,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def can_view(project: Project, user_id: uuid.UUID | None) -> bool:
    return project.is_public or project.user_id == user_id


async def list_categories(pool: asyncpg.Pool) -> list[Category]:
    return [Category(row["slug"], row["name"]) for row in await queries.list_categories(pool)]


async def check_project_input(
    conn: asyncpg.Pool | asyncpg.Connection, values: Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    """The columns to write from the given fields (all required unless ``partial``); `ValidationFailed`
    naming every bad field."""
    errors = FieldErrors()
    columns: dict[str, Any] = {}
    if "slug" in values or not partial:
        columns["slug"] = errors.slug("slug", str(values.get("slug") or ""))
    if "title" in values or not partial:
        columns["title"] = errors.title("title", str(values.get("title") or ""))
    if "type" in values or not partial:
        columns["project_type"] = errors.choice("type", str(values.get("type") or ""), PROJECT_TYPES)
    if "description" in values or not partial:
        columns["description"] = errors.text("description", values.get("description"), MAX_DESCRIPTION_CHARS)
    if "visibility" in values or not partial:
        visibility = str(values.get("visibility") or "private")
        columns["is_public"] = errors.choice("visibility", visibility, VISIBILITIES) == "public"
    if "category" in values or not partial:
        category = str(values.get("category") or "").strip()
        columns["category_id"] = None
        if category:
            columns["category_id"] = await queries.get_category_id(conn, category)
            if columns["category_id"] is None:
                errors.add("category", "There is no such category.")
    errors.raise_if_any("The project was not saved.")
    return columns


def _slug_taken(exc: asyncpg.UniqueViolationError) -> None:
    if exc.constraint_name == "projects_user_id_slug_key":
        raise SlugTaken("You already have a project with this slug; choose another.") from None
    raise exc


async def create_project(services: Services, creator: Creator, values: Mapping[str, Any]) -> Project:
    columns = await check_project_input(services.pool, values, partial=False)
    limits = limits_for(creator.creator_tier)

    async def create(tx: Tx) -> uuid.UUID:
        await files.lock_creator(tx.conn, creator.id)
        if await queries.count_projects(tx.conn, creator.id) >= limits.max_projects:
            raise ProjectLimit(limits.max_projects, limits.tier)
        try:
            async with tx.conn.transaction():
                return await queries.insert_project(tx.conn, creator.id, columns)
        except asyncpg.UniqueViolationError as exc:
            _slug_taken(exc)
            raise

    project_id = await run_tx(services.pool, "store.projects.create", create, metrics=services.metrics)
    row = await queries.get_project(services.pool, project_id)
    assert row is not None
    return Project.from_row(row)


async def get_owned_project(pool: asyncpg.Pool, user_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    """The project when ``user_id`` owns it; anyone else's (or none) is `NotFound`."""
    row = await queries.get_project(pool, project_id)
    if row is None or row["user_id"] != user_id:
        raise NotFound(NO_SUCH_PROJECT)
    return Project.from_row(row)


async def get_visible_project(pool: asyncpg.Pool, owner: str, slug: str, viewer_id: uuid.UUID | None) -> Project:
    row = await queries.get_project_by_path(pool, owner, slug)
    project = None if row is None else Project.from_row(row)
    if project is None or not can_view(project, viewer_id):
        raise NotFound(NO_SUCH_PROJECT)
    return project


async def list_projects(pool: asyncpg.Pool, user_id: uuid.UUID, *, include_private: bool) -> list[Project]:
    return [Project.from_row(r) for r in await queries.list_projects(pool, user_id, include_private=include_private)]


async def update_project(pool: asyncpg.Pool, project: Project, values: Mapping[str, Any]) -> Project:
    columns = await check_project_input(pool, values, partial=True)
    try:
        await queries.update_project(pool, project.id, columns)
    except asyncpg.UniqueViolationError as exc:
        _slug_taken(exc)
    row = await queries.get_project(pool, project.id)
    if row is None:
        raise NotFound(NO_SUCH_PROJECT)
    return Project.from_row(row)


async def delete_project(services: Services, project: Project) -> None:
    """The project, its items and their versions; the files' bytes go back to the creator's storage; what the
    deletion hooks queue (commerce: cancellations at Stripe) exists exactly when it commits."""

    async def delete(tx: Tx) -> None:
        if not await queries.lock_project(tx.conn, project.id):
            raise NotFound(NO_SUCH_PROJECT)
        await run_deletion_hooks(services, PROJECT_DELETION_HOOKS, tx, project.id)
        stored = await queries.list_stored_files(tx.conn, project_id=project.id)
        await queries.delete_project(tx.conn, project.id)
        await files.forget_files(tx, project.user_id, stored)

    await run_tx(services.pool, "store.projects.delete", delete, metrics=services.metrics)
