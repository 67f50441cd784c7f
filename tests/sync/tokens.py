"""A sync access token through the real PKCE flow, for a browser that is already signed in."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.support.browser import Browser
from tests.support.oauth import Pkce, RegisteredApp, exchange, get_code

__all__ = ["sync_token"]


async def sync_token(client: TestClient, browser: Browser, app: RegisteredApp) -> str:  # type: ignore[type-arg]
    """Authorize ``app`` as the user signed in to ``browser`` (consenting if asked) and redeem the code."""
    pkce = Pkce.new()
    code = await get_code(browser, app, pkce)
    response = await exchange(client, app, code, pkce.verifier)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token
