"""The SDK against `mnwd serve`: ``sdk_app`` (a daemon, alice, the notes app) and ``make_device`` (a signed-in
`SyncClient` per device, through the real PKCE flow with a loopback redirect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from mnw_synckit import Backoff, SyncClient

from tests.support.accounts import PASSWORD, MakeUser
from tests.support.browser import CSRF_INPUT
from tests.support.daemon import RunningDaemon
from tests.support.oauth import FORM_FIELD, RegisteredApp, register_app

pytestmark = pytest.mark.e2e

FAST = Backoff(attempts=4, base=0.05, cap=0.5)


@dataclass
class SdkApp:
    daemon: RunningDaemon
    app: RegisteredApp
    pool: asyncpg.Pool
    tmp: Path

    @property
    def base_url(self) -> str:
        return self.daemon.base_url

    @property
    def client_id(self) -> str:
        return str(self.app.id)


@pytest.fixture
async def sdk_app(daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool, tmp_path: Path) -> SdkApp:
    await make_user("alice")
    await make_user("bob")
    maker = await make_user("maker", can_create_projects=True)
    return SdkApp(daemon, await register_app(pool, maker["id"]), pool, tmp_path)


def consent_as(base_url: str, username: str = "alice") -> Callable[[str], Awaitable[None]]:
    """What the user does in the browser: sign in, allow the app (unless consent is remembered); the browser
    then follows the redirect to the SDK's loopback server."""

    async def open_url(url: str) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            login = await (await browser.get(f"{base_url}/login")).text()
            match = CSRF_INPUT.search(login)
            assert match is not None
            form = {"login": username, "password": PASSWORD, "csrf_token": unescape(match.group(1))}
            signed_in = await browser.post(f"{base_url}/login", data=form, allow_redirects=False)
            assert signed_in.status == 303
            page = await browser.get(url)
            text = await page.text()
            if "decision" in text:
                fields = {name: unescape(value) for name, value in FORM_FIELD.findall(text)}
                page = await browser.post(f"{base_url}/oauth/authorize", data={**fields, "decision": "allow"})
                text = await page.text()
            assert "Signed in" in text, text

    return open_url


MakeDevice = Callable[..., Awaitable[SyncClient]]


@pytest.fixture
async def make_device(sdk_app: SdkApp) -> AsyncIterator[MakeDevice]:
    """``await make_device("laptop")``: an open, signed-in client with a store of its own."""
    opened: list[SyncClient] = []

    async def make(
        name: str, *, user: str = "alice", base_url: str | None = None, login: bool = True, **options: Any
    ) -> SyncClient:
        options.setdefault("backoff", FAST)
        client = SyncClient(
            base_url or sdk_app.base_url, sdk_app.client_id, sdk_app.tmp / f"{name}.db", device_name=name, **options
        )
        await client.open()
        opened.append(client)
        if login and not client.signed_in:
            await client.login(open_url=consent_as(sdk_app.base_url, user), wait_seconds=30)
        return client

    yield make
    for client in opened:
        await client.close()


async def server_rows(pool: asyncpg.Pool, app: RegisteredApp) -> list[asyncpg.Record]:
    """The stream's change log as PostgreSQL holds it."""
    return await pool.fetch(
        "SELECT seq, mutation_id, table_name, row_id, operation, data, device_id FROM sync_log"
        " WHERE app_id = $1 ORDER BY seq",
        app.id,
    )
