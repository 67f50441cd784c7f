"""Search over HTTP: the page /search and GET /api/v1/search, with typos, filters, visibility and bad input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.store.catalog_rows import label_project, make_item, make_project, make_tag, tag_item
from tests.support.accounts import MakeUser
from tests.support.browser import Browser

Client = TestClient[Any, web.Application]


@dataclass
class Catalog:
    water: uuid.UUID
    brushes: uuid.UUID
    rain: uuid.UUID
    tools: uuid.UUID


@pytest.fixture
async def catalog(make_user: MakeUser, pool: asyncpg.Pool) -> Catalog:
    maker = await make_user("maker", can_create_projects=True)
    tools = await make_project(
        pool, maker["id"], "godot-tools", "Godot tools", description="Add-ons for the Godot engine"
    )
    await label_project(pool, tools, "open-source")
    water = await make_item(
        pool,
        tools,
        "water",
        "Realistic water shaders",
        description="Ocean and river shaders for Godot 4",
        body="Drop the material on a plane mesh.",
    )
    brushes = await make_item(pool, tools, "brushes", "Pixel art brushes", item_type="image", price_cents=500)
    await make_item(pool, tools, "notes", "Private shader notes", public=False)
    sounds = await make_project(pool, maker["id"], "sounds", "Field recordings", project_type="music")
    rain = await make_item(pool, sounds, "rain", "Rain on a tin roof", item_type="audio", description="Ambient rain")
    hidden = await make_project(pool, maker["id"], "secret", "Secret project", public=False)
    await make_item(pool, hidden, "pack", "Secret shaders pack")
    gone = await make_user("gone", can_create_projects=True)
    gone_project = await make_project(pool, gone["id"], "stuff", "Stuff")
    await make_item(pool, gone_project, "shaders", "Suspended shaders")
    await pool.execute("UPDATE users SET suspended_at = now() WHERE id = $1", gone["id"])
    await make_tag(pool, "graphics", "Graphics")
    await make_tag(pool, "shaders", "Shaders", parent="graphics")
    await make_tag(pool, "audio", "Audio")
    await tag_item(pool, water, "shaders", primary=True)
    await tag_item(pool, rain, "audio", primary=True)
    return Catalog(water, brushes, rain, tools)


async def search_json(client: Client, **params: str) -> dict[str, Any]:
    response = await client.get("/api/v1/search", params=params)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return [item["title"] for item in body["items"]]


async def test_a_typo_finds_the_title_and_nobody_needs_to_sign_in(client: Client, catalog: Catalog) -> None:
    body = await search_json(client, q="shdaers")
    assert titles(body) == ["Realistic water shaders"]
    assert body["corrected"] == "shaders"
    # Each word is corrected on its own; operators stay; words the titles have are kept.
    assert (await search_json(client, q="realistc -pixel"))["corrected"] == "realistic -pixel"
    assert (await search_json(client, q="water"))["corrected"] is None
    item = body["items"][0]
    assert item["url"] == "/@maker/godot-tools/water"
    assert item["creator"] == "maker"
    assert item["project"]["slug"] == "godot-tools"
    assert item["labels"] == ["open-source"]
    assert item["price_cents"] == 0


async def test_full_text_matches_stems_in_the_description_and_body_and_ranks_titles_first(
    client: Client, catalog: Catalog, pool: asyncpg.Pool
) -> None:
    assert titles(await search_json(client, q="ocean")) == ["Realistic water shaders"]
    assert titles(await search_json(client, q="plane mesh")) == ["Realistic water shaders"]
    # "shader" (singular) finds "shaders" by its stem; an item with it in its title comes before one that only
    # mentions it in its description, however popular.
    tools = catalog.tools
    await make_item(
        pool, tools, "grass", "Wind in the grass", description="A vertex shader for grass", sales_count=1000
    )
    assert titles(await search_json(client, q="shader")) == ["Realistic water shaders", "Wind in the grass"]


async def test_projects_are_found_too(client: Client, catalog: Catalog) -> None:
    body = await search_json(client, q="godot")
    assert [p["url"] for p in body["projects"]] == ["/@maker/godot-tools"]
    assert body["projects"][0]["labels"] == ["open-source"]
    assert body["projects"][0]["type"] == "software"


async def test_private_items_private_projects_and_suspended_creators_are_never_found(
    client: Client, catalog: Catalog
) -> None:
    body = await search_json(client, q="shaders")
    assert titles(body) == ["Realistic water shaders"]
    assert body["projects"] == []
    assert titles(await search_json(client, q="secret")) == []


async def test_filters_by_type_tag_label_and_price(client: Client, catalog: Catalog) -> None:
    assert titles(await search_json(client, type="audio")) == ["Rain on a tin roof"]
    # A project type matches the items of projects of that type.
    music = await search_json(client, type="music")
    assert titles(music) == ["Rain on a tin roof"]
    assert [p["slug"] for p in music["projects"]] == ["sounds"]
    # A tag takes in the tags below it; tag and price list only items.
    graphics = await search_json(client, tag="graphics")
    assert titles(graphics) == ["Realistic water shaders"]
    assert graphics["projects"] == []
    assert titles(await search_json(client, q="shaders", tag="audio")) == []
    assert titles(await search_json(client, price="paid")) == ["Pixel art brushes"]
    assert set(titles(await search_json(client, price="free"))) == {"Realistic water shaders", "Rain on a tin roof"}
    open_source = await search_json(client, label="open-source")
    assert set(titles(open_source)) == {"Realistic water shaders", "Pixel art brushes"}
    assert [p["slug"] for p in open_source["projects"]] == ["godot-tools"]
    assert titles(await search_json(client, label="drm-free")) == []


async def test_pages_of_results(client: Client, catalog: Catalog, pool: asyncpg.Pool) -> None:
    for n in range(25):
        await make_item(pool, catalog.tools, f"theme-{n}", f"Editor theme {n}")
    first = await search_json(client, q="editor theme")
    second = await search_json(client, q="editor theme", page="2")
    assert len(first["items"]) == 20
    assert first["has_more"] is True
    assert len(second["items"]) == 5
    assert second["has_more"] is False
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "x" * 100_000}, "q"),
        ({"q": "sha\x00ders"}, "q"),
        ({"q": "sha\x1bders"}, "q"),
        ({"q": "water", "tag": "no-such-tag"}, "tag"),
        ({"q": "water", "tag": "../etc"}, "tag"),
        ({"q": "water", "label": "no-such-label"}, "label"),
        ({"q": "water", "type": "spaceship"}, "type"),
        ({"q": "water", "price": "cheap"}, "price"),
        ({"q": "water", "page": "0"}, "page"),
        ({"q": "water", "page": "51"}, "page"),
        ({"q": "water", "page": "9" * 40}, "page"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: Client, catalog: Catalog, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/search", params=params, headers={"Accept": "application/json"})
    assert response.status in {422, 414, 400}, await response.text()
    if response.status == 422:
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert body["type"].endswith("/validation-failed")
        assert [e["field"] for e in body["errors"]] == [field]


async def test_tabs_and_line_breaks_count_as_spaces(client: Client, catalog: Catalog) -> None:
    assert titles(await search_json(client, q="water\tshaders\n")) == ["Realistic water shaders"]


async def test_sql_and_query_syntax_are_just_text(client: Client, catalog: Catalog) -> None:
    for text in ["'; DROP TABLE items; --", "water & | ! (", '"unclosed', "%_\\", "<script>alert(1)</script>"]:
        body = await search_json(client, q=text)
        assert isinstance(body["items"], list)


async def test_the_search_page_shows_results_labels_and_a_typo_match(browser: Browser, catalog: Catalog) -> None:
    page = await browser.get("/search?q=shdaers")
    assert page.status == 200
    assert page.has('<a href="/@maker/godot-tools/water">Realistic water shaders</a>')
    assert page.has('href="/search?label=open-source"')
    assert page.has("Open source")


async def test_the_search_page_without_a_query_shows_the_box_and_bad_input_is_explained(
    browser: Browser, catalog: Catalog
) -> None:
    empty = await browser.get("/search")
    assert empty.status == 200
    assert 'id="search-hint"' in empty.text
    nothing = await browser.get("/search?q=zzzzqqqq")
    assert nothing.status == 200
    assert 'id="no-results"' in nothing.text
    too_long = await browser.get("/search?q=" + "x" * 300)
    assert too_long.status == 422
    assert too_long.has("Search for at most 200 characters.")
    unknown = await browser.get("/search?q=water&tag=nope")
    assert unknown.status == 422
    assert unknown.has("There is no tag 'nope'.")
    escaped = await browser.get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in escaped.text


async def test_a_second_view_of_the_search_page_is_a_304(browser: Browser, catalog: Catalog) -> None:
    first = await browser.get("/search?q=water")
    etag = first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    async with browser.client.get("/search?q=water", headers={**browser.headers, "If-None-Match": etag}) as again:
        assert again.status == 304
        assert await again.read() == b""
    async with browser.client.get("/api/v1/search?q=water") as api:
        api_etag = api.headers["ETag"]
    async with browser.client.get("/api/v1/search?q=water", headers={"If-None-Match": api_etag}) as api_again:
        assert api_again.status == 304


async def test_the_typo_word_list_follows_new_and_renamed_titles(
    client: Client, catalog: Catalog, pool: asyncpg.Pool
) -> None:
    words = {r["word"] for r in await pool.fetch("SELECT word FROM search_words")}
    assert {"realistic", "water", "shaders", "godot", "tools"} <= words
    assert "on" not in words  # "Rain on a tin roof": shorter than 3
    await pool.execute("UPDATE items SET title = 'Volumetric clouds' WHERE id = $1", catalog.water)
    body = await search_json(client, q="volumetirc")
    assert body["corrected"] == "volumetric"
    assert titles(body) == ["Volumetric clouds"]
