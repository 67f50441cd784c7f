"""Minting sync access tokens through the real OAuth flow, and a small sync API client for tests."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.support.accounts import PASSWORD
from tests.support.browser import Browser
from tests.support.oauth import Pkce, RegisteredApp, exchange, get_code


async def token_for(aiohttp_client: Any, client: TestClient, username: str, app: RegisteredApp) -> str:  # type: ignore[type-arg]
    """Sign ``username`` in from a browser of its own, authorize ``app``, exchange the code."""
    token: str = (await tokens_for_user(aiohttp_client, client, username, app))["access_token"]
    return token


async def tokens_for_user(aiohttp_client: Any, client: TestClient, username: str, app: RegisteredApp) -> dict[str, Any]:  # type: ignore[type-arg]
    """As `token_for`, returning the whole token response (``access_token``, ``refresh_token``, …)."""
    browser = Browser(await aiohttp_client(client.server))
    page = await browser.submit("/login", "/login", {"login": username, "password": PASSWORD})
    assert page.status == 303, page.text
    pkce = Pkce.new()
    response = await exchange(client, app, await get_code(browser, app, pkce), pkce.verifier)
    assert response.status == 200
    tokens: dict[str, Any] = await response.json()
    return tokens


@dataclass
class SyncApi:
    client: TestClient  # type: ignore[type-arg]
    token: str
    device_id: str | None = None
    next_mutation: int = 1
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def register(self, name: str = "laptop", platform: str = "linux") -> dict[str, Any]:
        response = await self.client.post(
            "/sync/v1/devices", json={"device_name": name, "platform": platform}, headers=self.headers
        )
        assert response.status in (200, 201), await response.text()
        body: dict[str, Any] = await response.json()
        self.device_id = body["id"]
        return body

    def mutation(
        self, row_id: str, data: dict[str, Any] | None, op: str = "UPDATE", table: str = "notes"
    ) -> dict[str, Any]:
        mutation = {"mutation_id": self.next_mutation, "table": table, "op": op, "row_id": row_id, "data": data}
        self.next_mutation += 1
        return mutation

    async def push(self, mutations: list[dict[str, Any]]) -> Any:
        return await self.client.post(
            "/sync/v1/push", json={"device_id": self.device_id, "mutations": mutations}, headers=self.headers
        )

    async def pull(self, cursor: int = 0, **params: Any) -> Any:
        query = {"cursor": str(cursor), **{k: str(v) for k, v in params.items()}}
        return await self.client.get("/sync/v1/pull", params=query, headers=self.headers)

    async def pull_all(self, cursor: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        changes: list[dict[str, Any]] = []
        while True:
            body = await (await self.pull(cursor, limit=limit)).json()
            changes.extend(body["changes"])
            cursor = body["cursor"]
            if not body["has_more"]:
                return changes, cursor


def new_id() -> str:
    return str(uuid.uuid4())


async def open_event_stream(api: SyncApi) -> aiohttp.ClientResponse:
    """``GET /sync/v1/events`` for ``api``'s device, read up to its ``ready`` event."""
    response = await api.client.get("/sync/v1/events", headers=api.headers)
    assert response.status == 200
    assert b"event: ready" in await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    return response
