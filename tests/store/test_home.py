"""The store's home page at /, /sitemap.xml and /robots.txt: what they list, and the 304 of a second view."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.store.catalog_rows import make_item, make_project, make_tag
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

Client = TestClient[Any, web.Application]
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
async def shop(make_user: MakeUser, pool: asyncpg.Pool) -> None:
    maker = await make_user("maker", can_create_projects=True)
    tools = await make_project(pool, maker["id"], "godot-tools", "Godot tools")
    await make_item(pool, tools, "water", "Water shaders", download_count=3)
    await make_item(pool, tools, "grass", "Grass shaders", sales_count=10)
    await make_item(pool, tools, "draft", "Draft item", public=False)
    hidden = await make_project(pool, maker["id"], "hidden", "Hidden project", public=False)
    await make_item(pool, hidden, "secret", "Secret item")
    shy = await make_user("shy", can_create_projects=True)
    await make_project(pool, shy["id"], "private", "Private", public=False)
    tag = await make_tag(pool, "graphics", "Graphics")
    await make_tag(pool, "empty", "Empty")
    await pool.execute(
        "INSERT INTO item_tags (item_id, tag_id, is_primary) SELECT id, $1, true FROM items WHERE slug = 'water'", tag
    )


async def test_the_home_page_lists_new_and_popular_public_items(browser: Browser, shop: None) -> None:
    page = await browser.get("/")
    assert page.status == 200
    new = page.text.split('id="new-items"')[1].split("</section>")[0]
    popular = page.text.split('id="popular-items"')[1].split("</section>")[0]
    assert new.index("Grass shaders") < new.index("Water shaders")  # the newest first
    assert popular.index("Grass shaders") < popular.index("Water shaders")  # 10 sales beat 3 downloads
    assert "Draft item" not in page.text
    assert "Secret item" not in page.text
    assert page.has('<a href="/tags/graphics">Graphics</a>')
    assert page.has('action="/search"')
    assert page.has("Create an account")


async def test_an_empty_store_still_has_a_home_page(browser: Browser) -> None:
    page = await browser.get("/")
    assert page.status == 200
    assert page.has("Nothing published yet.")
    assert 'id="popular-items"' not in page.text


async def test_a_second_view_of_the_home_page_is_a_304_and_a_change_is_a_new_etag(
    browser: Browser, shop: None, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    first = await browser.get("/")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert "Cookie" in first.headers["Vary"]
    conditional = {**browser.headers, "If-None-Match": etag}
    async with browser.client.get("/", headers=conditional) as again:
        assert again.status == 304
        assert again.headers["ETag"] == etag
        assert await again.read() == b""
    await pool.execute("UPDATE items SET title = 'Clear water shaders' WHERE slug = 'water'")
    async with browser.client.get("/", headers=conditional) as changed:
        assert changed.status == 200
        assert "Clear water shaders" in await changed.text()
    # Signed in, the page differs (the header names the viewer), so the old tag no longer matches.
    await make_user("alice")
    await sign_in(browser, "alice")
    async with browser.client.get("/", headers=conditional) as signed_in:
        assert signed_in.status == 200
        assert "@alice" in await signed_in.text()


async def test_the_sitemap_lists_public_creators_projects_items_and_tags(client: Client, shop: None) -> None:
    response = await client.get("/sitemap.xml")
    assert response.status == 200
    assert response.content_type == "application/xml"
    root = ElementTree.fromstring(await response.read())
    locs = [url.find(f"{SITEMAP_NS}loc").text or "" for url in root.findall(f"{SITEMAP_NS}url")]  # type: ignore[union-attr]
    paths = sorted(loc.split("://", 1)[1].split("/", 1)[1] for loc in locs)
    assert paths == sorted(
        ["", "@maker", "@maker/godot-tools", "@maker/godot-tools/water", "@maker/godot-tools/grass", "tags/graphics"]
    )
    etag = response.headers["ETag"]
    again = await client.get("/sitemap.xml", headers={"If-None-Match": etag})
    assert again.status == 304


async def test_robots_keeps_crawlers_off_private_pages_and_names_the_sitemap(client: Client) -> None:
    response = await client.get("/robots.txt")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    for prefix in ["/dashboard/", "/admin/", "/api/", "/settings", "/search"]:
        assert f"Disallow: {prefix}\n" in text
    assert text.rstrip().splitlines()[-1].startswith("Sitemap: http")
    assert text.rstrip().endswith("/sitemap.xml")
    assert "public" in response.headers["Cache-Control"]
