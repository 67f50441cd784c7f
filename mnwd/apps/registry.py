"""Registered apps: what a creator registers to use SyncKit and OAuth, and its server-side API key.

The interface other domains call:

- ``App`` — what an app is to the rest of mnwd. ``id`` is the OAuth ``client_id``.
- ``get_app(pool, app_id)`` — by client id; ``None`` when there is none.
- ``get_app_by_api_key(pool, api_key)`` — the app an API key authenticates; ``None`` for an unknown,
  rotated-away or malformed key, and for the key of a deactivated app. The key is hashed and looked up by
  its hash, so no comparison of secret bytes happens in Python (constant time by construction).
- ``create_app(pool, ...)``, ``rotate_api_key(pool, app_id)`` — return an ``IssuedKey``: the only time the
  plain key exists; the database keeps its SHA-256 and its first 12 characters.
- ``update_app(pool, app_id, ...)``, ``set_active(pool, app_id, active)``.

``get_app`` returns inactive apps too, so the caller can say why it refuses: **an app with ``is_active``
false must get no new sign-ins and no token use** — check it.

Bad input raises ``ValidationFailed`` with ``errors`` per field (``name``, ``slug``, ``redirect_uris``,
``project_id``, ``item_id``); an unknown app raises ``NotFound``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from mnwd.accounts import Viewer
from mnwd.apps import queries
from mnwd.apps.redirect_uris import parse_redirect_uris
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import ServiceKey, Services
from mnwd.tiers import check_count
from mnwd.tokens import hash_token, new_token

__all__ = [
    "API_KEY_PREFIX",
    "MAX_NAME_CHARS",
    "App",
    "AppDetails",
    "IssuedKey",
    "can_register_apps",
    "change_active",
    "create_app",
    "get_app",
    "get_app_by_api_key",
    "get_app_by_slug",
    "get_creator_app",
    "list_creator_apps",
    "on_app_change",
    "rotate_api_key",
    "set_active",
    "update_app",
]

API_KEY_PREFIX = "mnwd_sk_"
API_KEY_SHOWN_CHARS = 12
MAX_API_KEY_CHARS = 256
MAX_NAME_CHARS = 100
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")

SLUG_RULE = "Use 2 to 100 lowercase letters, digits, '-' or '_', starting with a letter or digit."
NO_SUCH_PROJECT = "There is no such project."
NO_SUCH_ITEM = "There is no such item."

AppChangeHook = Callable[[uuid.UUID], None]
CHANGE_HOOKS = ServiceKey("apps.change_hooks", list[AppChangeHook])


@dataclass(frozen=True)
class App:
    """A registered app. ``id`` is its OAuth ``client_id``; ``redirect_uris`` are matched exactly
    (the port of a loopback ``http://127.0.0.1`` or ``http://[::1]`` URI aside, RFC 8252)."""

    id: uuid.UUID
    creator_id: uuid.UUID
    creator_username: str
    name: str
    slug: str
    redirect_uris: tuple[str, ...]
    is_active: bool

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> App:
        return cls(
            id=row["id"],
            creator_id=row["creator_id"],
            creator_username=row["creator_username"],
            name=row["name"],
            slug=row["slug"],
            redirect_uris=tuple(row["redirect_uris"]),
            is_active=row["is_active"],
        )


@dataclass(frozen=True)
class AppDetails:
    """What the creator's dashboard shows besides the ``App``."""

    app: App
    api_key_prefix: str
    project_id: uuid.UUID | None
    item_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> AppDetails:
        return cls(
            app=App.from_record(row),
            api_key_prefix=row["api_key_prefix"],
            project_id=row["project_id"],
            item_id=row["item_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class IssuedKey:
    """An app with its new API key: shown to the creator once, then only its hash is left."""

    app: App
    api_key: str = field(repr=False)


def can_register_apps(viewer: Viewer) -> bool:
    return viewer.can_create_projects or viewer.is_admin


def _new_api_key() -> tuple[str, bytes, str]:
    """The key, its SHA-256 and the prefix kept to tell keys apart; ``mnwd_sk_`` makes leaks greppable."""
    api_key = new_token(API_KEY_PREFIX)
    return api_key, hash_token(api_key), api_key[:API_KEY_SHOWN_CHARS]


# Validation


def name_problem(name: str) -> str | None:
    if not name or len(name) > MAX_NAME_CHARS:
        return f"Use 1 to {MAX_NAME_CHARS} characters."
    if not name.isprintable():
        return "Use printable characters only."
    return None


def slug_problem(slug: str) -> str | None:
    return None if SLUG_PATTERN.fullmatch(slug) else SLUG_RULE


def _parse_id(raw: uuid.UUID | str | None, name: str, message: str, errors: list[dict[str, str]]) -> uuid.UUID | None:
    """An optional id from a form or the command line; blank is none, anything else not an id is an error."""
    if raw is None or isinstance(raw, uuid.UUID):
        return raw
    if not raw.strip():
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        errors.append({"field": name, "message": message})
        return None


# Look-ups


async def get_app(pool: asyncpg.Pool, app_id: uuid.UUID) -> App | None:
    row = await queries.get_app(pool, app_id)
    return App.from_record(row) if row is not None else None


async def get_app_by_slug(pool: asyncpg.Pool, slug: str) -> App | None:
    row = await queries.get_app_by_slug(pool, slug.strip().lower())
    return App.from_record(row) if row is not None else None


async def get_app_by_api_key(pool: asyncpg.Pool, api_key: str) -> App | None:
    if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > MAX_API_KEY_CHARS:
        return None
    row = await queries.get_app_by_api_key_hash(pool, hash_token(api_key))
    if row is None or not row["is_active"]:
        return None
    return App.from_record(row)


async def get_creator_app(pool: asyncpg.Pool, creator_id: uuid.UUID, app_id: uuid.UUID) -> AppDetails | None:
    """The app when ``creator_id`` registered it; anyone else's is ``None``, as if it did not exist."""
    row = await queries.get_creator_app(pool, creator_id, app_id)
    return AppDetails.from_record(row) if row is not None else None


async def list_creator_apps(pool: asyncpg.Pool, creator_id: uuid.UUID) -> list[AppDetails]:
    return [AppDetails.from_record(row) for row in await queries.list_creator_apps(pool, creator_id)]


# Changes


async def create_app(
    pool: asyncpg.Pool,
    *,
    creator_id: uuid.UUID,
    name: str,
    slug: str,
    redirect_uris: Sequence[str],
    project_id: uuid.UUID | str | None = None,
    item_id: uuid.UUID | str | None = None,
) -> IssuedKey:
    """Register an app; every problem is reported at once, per field.

    ``project_id`` and ``item_id`` (UUIDs, or their text from a form; blank means none) must be the creator's
    own; anyone else's is refused as if it did not exist. Linking an item links its project too.
    """
    name = name.strip()
    slug = slug.strip()
    errors: list[dict[str, str]] = []
    if problem := name_problem(name):
        errors.append({"field": "name", "message": problem})
    if problem := slug_problem(slug):
        errors.append({"field": "slug", "message": problem})
    uris, problem = parse_redirect_uris(redirect_uris)
    if problem:
        errors.append({"field": "redirect_uris", "message": problem})
    project = _parse_id(project_id, "project_id", NO_SUCH_PROJECT, errors)
    item = _parse_id(item_id, "item_id", NO_SUCH_ITEM, errors)
    api_key, key_hash, key_prefix = _new_api_key()

    async def body(tx: Tx) -> asyncpg.Record:
        found = list(errors)
        linked_project = project
        if not any(e["field"] == "slug" for e in found) and await queries.slug_taken(tx.conn, slug):
            found.append({"field": "slug", "message": "This slug is taken."})
        if project is not None and not await queries.lock_owned_project(tx.conn, creator_id, project):
            found.append({"field": "project_id", "message": NO_SUCH_PROJECT})
        if item is not None:
            item_project = await queries.lock_owned_item(tx.conn, creator_id, item)
            if item_project is None:
                found.append({"field": "item_id", "message": NO_SUCH_ITEM})
            elif project is None:
                linked_project = item_project
            elif project != item_project:
                found.append({"field": "item_id", "message": "This item is not in that project."})
        if found:
            raise ValidationFailed("The app was not registered.", errors=found)
        quota = await queries.lock_creator_app_count(tx.conn, creator_id)
        if quota is not None:
            check_count(quota["tier"], "max_sync_apps", quota["apps"], "SyncKit apps")
        return await queries.insert_app(
            tx.conn,
            creator_id=creator_id,
            name=name,
            slug=slug,
            redirect_uris=uris,
            project_id=linked_project,
            item_id=item,
            api_key_hash=key_hash,
            api_key_prefix=key_prefix,
        )

    row = await run_tx(pool, "apps.create", body)
    return IssuedKey(App.from_record(row), api_key)


async def update_app(pool: asyncpg.Pool, app_id: uuid.UUID, *, name: str, redirect_uris: Sequence[str]) -> App:
    name = name.strip()
    errors: list[dict[str, str]] = []
    if problem := name_problem(name):
        errors.append({"field": "name", "message": problem})
    uris, problem = parse_redirect_uris(redirect_uris)
    if problem:
        errors.append({"field": "redirect_uris", "message": problem})
    if errors:
        raise ValidationFailed("The app was not saved.", errors=errors)
    row = await queries.update_app(pool, app_id, name=name, redirect_uris=uris)
    if row is None:
        raise NotFound("There is no such app.")
    return App.from_record(row)


async def rotate_api_key(pool: asyncpg.Pool, app_id: uuid.UUID) -> IssuedKey:
    """A new API key; the old one stops working at once."""
    api_key, key_hash, key_prefix = _new_api_key()
    row = await queries.update_api_key(pool, app_id, api_key_hash=key_hash, api_key_prefix=key_prefix)
    if row is None:
        raise NotFound("There is no such app.")
    return IssuedKey(App.from_record(row), api_key)


async def set_active(pool: asyncpg.Pool, app_id: uuid.UUID, active: bool) -> App:
    """Deactivate (no new sign-ins, no token or API-key use) or reactivate an app."""
    row = await queries.set_active(pool, app_id, active)
    if row is None:
        raise NotFound("There is no such app.")
    return App.from_record(row)


async def change_active(services: Services, app_id: uuid.UUID, active: bool) -> App:
    """`set_active`, then the hooks of `on_app_change` in this daemon (other daemons learn of the change
    from the notification of their own triggers)."""
    app = await set_active(services.pool, app_id, active)
    for hook in services[CHANGE_HOOKS]:
        hook(app_id)
    return app


def on_app_change(services: Services, hook: AppChangeHook) -> None:
    """Have ``hook(app_id)`` called in this daemon whenever an app is deactivated or reactivated here."""
    services[CHANGE_HOOKS].append(hook)
