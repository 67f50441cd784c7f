"""The site header links to the buyer's library for anyone signed in, and not for visitors."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.commerce.shop import Shop
from tests.support.browser import Browser


async def test_the_header_links_signed_in_users_to_their_library(
    shop: Shop,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
) -> None:
    for browser in (shop.buyer, shop.maker):
        home = await browser.get("/")
        assert '<a href="/library" id="nav-library">Library</a>' in home.text
        library = await browser.get("/library")
        assert library.status == 200
        assert 'id="nav-library"' in library.text
    visitor = Browser(await aiohttp_client(client.server))
    assert 'id="nav-library"' not in (await visitor.get("/")).text
    assert 'id="nav-library"' not in (await visitor.get("/@maker")).text
