"""Users, signed-in browsers: ``make_user``, ``browser``, ``alice`` and ``sign_in``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts.passwords import PASSWORDS
from mnwd.accounts.users import create_user
from mnwd.services import Services
from tests.support.browser import Browser

PASSWORD = "correct horse battery"
MakeUser = Callable[..., Awaitable[asyncpg.Record]]


@pytest.fixture
def make_user(services: Services) -> MakeUser:
    async def make(
        username: str = "alice", *, email: str | None = None, password: str | None = PASSWORD, **kw: Any
    ) -> asyncpg.Record:
        return await create_user(
            services.pool,
            services[PASSWORDS],
            username=username,
            email=email or f"{username}@example.org",
            password=password,
            **kw,
        )

    return make


@pytest.fixture
def browser(client: TestClient) -> Browser:  # type: ignore[type-arg]
    return Browser(client)


async def sign_in(browser: Browser, login: str, password: str = PASSWORD) -> None:
    page = await browser.submit("/login", "/login", {"login": login, "password": password})
    assert page.status == 303, page.text
    assert page.location == "/settings"


@pytest.fixture
async def other_browser(aiohttp_client: Any, client: TestClient) -> Browser:  # type: ignore[type-arg]
    """A second browser (its own cookies) on the same server."""
    return Browser(await aiohttp_client(client.server))


@pytest.fixture
async def alice(browser: Browser, make_user: MakeUser) -> Browser:
    """A browser signed in as ``alice``."""
    await make_user("alice")
    await sign_in(browser, "alice")
    return browser
