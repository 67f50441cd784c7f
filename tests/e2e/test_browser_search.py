"""Finding an item in Chromium against `mnwd serve`: the home page's search box, a typo, the filters, the tag
page. Screenshots of the search page at 1280 and 390 px go to ``var/test-artifacts/pages/<test>/``."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import expect

from tests.store.catalog_rows import label_project, make_item, make_project, make_tag, tag_item
from tests.support.accounts import MakeUser
from tests.support.e2e import BrowserRun, shoot

pytestmark = pytest.mark.e2e


async def test_a_visitor_finds_an_item_despite_a_typo(
    browser_run: BrowserRun, make_user: MakeUser, pool: asyncpg.Pool, shots: Path
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    tools = await make_project(pool, maker["id"], "godot-tools", "Godot tools", description="Add-ons for Godot")
    await label_project(pool, tools, "open-source")
    water = await make_item(
        pool, tools, "water", "Realistic water shaders", description="Ocean and river shaders for Godot 4"
    )
    await make_item(pool, tools, "brushes", "Pixel art brushes", item_type="image", price_cents=500)
    await make_tag(pool, "graphics", "Graphics")
    await make_tag(pool, "shaders", "Shaders", parent="graphics")
    await tag_item(pool, water, "shaders", primary=True)
    page = browser_run.page

    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Find work by independent creators")
    await page.get_by_role("search").get_by_role("searchbox").fill("shdaers")
    await page.get_by_role("search").get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(r"/search\?q=shdaers$"))
    results = page.locator("#item-results")
    await expect(results.get_by_role("link", name="Realistic water shaders")).to_have_attribute(
        "href", "/@maker/godot-tools/water"
    )
    await expect(page.locator("#typo-note")).to_contain_text("showing results for shaders")
    await expect(results.get_by_role("link", name="Open source")).to_be_visible()
    await expect(results).not_to_contain_text("Pixel art brushes")
    await shoot(page, shots, "0-search-typo")

    # Filters: paid items carrying the open-source label.
    await page.get_by_label("Search items and projects").fill("")
    await page.get_by_text("Filters").click()
    await page.get_by_label("Paid").check()
    await page.get_by_label("Open source").check()
    await page.locator("#search-form").get_by_role("button", name="Search").click()
    await expect(page.locator("#item-results").get_by_role("link", name="Pixel art brushes")).to_be_visible()
    await expect(page.locator("#item-results")).not_to_contain_text("Realistic water shaders")
    await expect(page.get_by_label("Paid")).to_be_checked()
    await shoot(page, shots, "1-search-filters")

    # The tag page lists items of the tags below it.
    await page.goto("/tags/graphics")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Graphics")
    await expect(page.locator("#tag-items").get_by_role("link", name="Realistic water shaders")).to_be_visible()
    await page.locator("#child-tags").get_by_role("link", name="Shaders").click()
    await expect(page).to_have_url(re.compile(r"/tags/shaders$"))
    await shoot(page, shots, "2-tag")
    assert browser_run.problems == []
