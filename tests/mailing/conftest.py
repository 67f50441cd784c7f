"""Creators with a project for the mailing tests: ``creator`` (a JSON API client with a token holding the
store and lists scopes, and the id of a public project) and ``creator_browser`` (signed in as that creator)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

SCOPES = ["store:read", "store:write", "lists:read", "lists:write"]


@dataclass
class Creator:
    client: TestClient  # type: ignore[type-arg]
    token: str
    user_id: Any
    project_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kw.pop("headers", {})}
        async with self.client.request(method, path, json=body, headers=headers, **kw) as response:
            return response.status, await _body(response)

    async def new_list(self, name: str = "News", **fields: Any) -> str:
        status, doc = await self.call("POST", f"/api/v1/projects/{self.project_id}/lists", {"name": name, **fields})
        assert status == 201, doc
        return str(doc["id"])


async def _body(response: ClientResponse) -> Any:
    if response.content_type.endswith("json"):
        return await response.json(content_type=None)
    return await response.read()


async def make_creator(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    make_user: MakeUser,
    name: str,
    scopes: list[str] = SCOPES,
) -> Creator:
    user = await make_user(name, can_create_projects=True)
    issued = await create_token(services, user["id"], name="tests", scopes=scopes, expires_days=None)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    body = {"slug": "tools", "title": f"{name.title()} Tools", "type": "software", "visibility": "public"}
    async with client.post("/api/v1/projects", json=body, headers=headers) as response:
        doc = await response.json()
        assert response.status == 201, doc
    return Creator(client, issued.secret, user["id"], doc["id"])


@pytest.fixture
async def creator(services: Services, client: TestClient, make_user: MakeUser) -> Creator:  # type: ignore[type-arg]
    return await make_creator(services, client, make_user, "maker")


@pytest.fixture
async def rival(services: Services, client: TestClient, make_user: MakeUser) -> Creator:  # type: ignore[type-arg]
    return await make_creator(services, client, make_user, "rival")


@pytest.fixture
async def creator_browser(browser: Browser, creator: Creator) -> Browser:
    await sign_in(browser, "maker")
    return browser


def outbox(services: Services) -> list[Any]:
    return read_outbox(services.config.data_dir / "outbox")


def link_path(text: str, kind: str) -> str:
    """The path of the first ``/lists/<kind>/<token>`` link in a mail's text."""
    match = re.search(rf"https?://[^/\s]+(/lists/{kind}/[A-Za-z0-9_.=-]+)", text)
    assert match is not None, text
    return match.group(1)


def body_text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content())


def outbox_dir(services: Services) -> Path:
    return services.config.data_dir / "outbox"
