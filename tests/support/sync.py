"""Sync apps: ``creator``, ``alice_api`` and the helpers of the app pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page
from tests.support.oauth import RegisteredApp
from tests.sync.streams import SyncApi, token_for

API_KEY = re.compile(r"mnwd_sk_[A-Za-z0-9_-]{43}")
CLIENT_ID = re.compile(r'id="client-id">([0-9a-f-]{36})<')
REDIRECT = "https://notes.example/oauth/callback"


@pytest.fixture
async def creator(browser: Browser, make_user: MakeUser) -> Browser:
    """A browser signed in as ``maker``, who may register apps."""
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    return browser


@pytest.fixture
async def alice_api(client: TestClient, aiohttp_client: Any, make_user: MakeUser, notes_app: RegisteredApp) -> SyncApi:  # type: ignore[type-arg]
    """alice, signed in to the notes app from her registered laptop."""
    await make_user("alice")
    api = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
    await api.register("laptop")
    return api


@pytest.fixture
async def alice_phone(alice_api: SyncApi, client: TestClient, aiohttp_client: Any, notes_app: RegisteredApp) -> SyncApi:  # type: ignore[type-arg]
    """alice's second device (her phone), with a grant of its own."""
    api = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
    await api.register("phone")
    return api


def app_form(**overrides: str) -> dict[str, str]:
    return {"name": "Notes", "slug": "notes", "redirect_uris": REDIRECT, "project_id": "", "item_id": ""} | overrides


async def register(browser: Browser, **overrides: str) -> Page:
    return await browser.submit("/dashboard/apps/new", "/dashboard/apps", app_form(**overrides))


def shown_key(page: Page) -> tuple[uuid.UUID, str]:
    """The client id and the API key a page shows."""
    client_id = CLIENT_ID.search(page.text)
    keys = API_KEY.findall(page.text)
    assert client_id is not None, page.text
    assert len(keys) == 1, page.text
    return uuid.UUID(client_id.group(1)), keys[0]


async def insert_project(pool: asyncpg.Pool, owner_id: uuid.UUID, slug: str = "book") -> uuid.UUID:
    project_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, $2, $2, 'software') RETURNING id",
        owner_id,
        slug,
    )
    return project_id


async def insert_item(pool: asyncpg.Pool, project_id: uuid.UUID, slug: str = "app") -> uuid.UUID:
    item_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO items (project_id, slug, title, item_type) VALUES ($1, $2, $2, 'download') RETURNING id",
        project_id,
        slug,
    )
    return item_id
