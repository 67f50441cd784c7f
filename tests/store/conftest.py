"""Creators for the catalog's tests: ``maker`` (a browser signed in as a creator), ``maker_api`` and
``rival_api`` (JSON API clients with personal access tokens of two creators)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

SCOPES = ["store:read", "store:write"]


@dataclass
class Api:
    """The JSON API as one creator's token calls it."""

    client: TestClient  # type: ignore[type-arg]
    token: str
    user_id: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kw.pop("headers", {})}
        async with self.client.request(method, path, json=body, headers=headers, **kw) as response:
            return response.status, await _body(response)

    async def put_file(self, item_id: Any, data: bytes, query: str, **headers: str) -> tuple[int, Any]:
        async with self.client.put(
            f"/api/v1/items/{item_id}/versions?{query}", data=data, headers={**self.headers, **headers}
        ) as response:
            return response.status, await _body(response)

    async def project(self, slug: str = "tools", **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "software", "visibility": "public", **fields}
        status, doc = await self.call("POST", "/api/v1/projects", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]

    async def item(self, project_id: Any, slug: str = "app", **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "download", **fields}
        status, doc = await self.call("POST", f"/api/v1/projects/{project_id}/items", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]


async def _body(response: ClientResponse) -> Any:
    if response.content_type.endswith("json"):
        return await response.json(content_type=None)
    return await response.read()


async def _api(services: Services, client: TestClient, make_user: MakeUser, name: str) -> Api:  # type: ignore[type-arg]
    user = await make_user(name, can_create_projects=True)
    issued = await create_token(services, user["id"], name="tests", scopes=SCOPES, expires_days=None)
    return Api(client, issued.secret, user["id"])


@pytest.fixture
async def maker_api(services: Services, client: TestClient, make_user: MakeUser) -> Api:  # type: ignore[type-arg]
    return await _api(services, client, make_user, "maker")


@pytest.fixture
async def rival_api(services: Services, client: TestClient, make_user: MakeUser) -> Api:  # type: ignore[type-arg]
    return await _api(services, client, make_user, "rival")


@pytest.fixture
async def maker(browser: Browser, maker_api: Api) -> Browser:
    """A browser signed in as ``maker``, the creator whose token ``maker_api`` holds."""
    await sign_in(browser, "maker")
    return browser
