"""A creator in Chromium, against `mnwd serve`: creates a project, adds an item, uploads its file from the
dashboard's form; a visitor finds it by searching with a typo, opens the public item page and downloads the file.

Screenshots of the item and search pages (and the dashboard on the way) at 1280 px and 390 px are kept in
``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import DESKTOP, TIMEOUT_MS, shoot

pytestmark = pytest.mark.e2e

FILE = b"mnwd release 1.0.0\n" * 500


async def test_a_creator_publishes_a_file_and_a_visitor_downloads_it(
    page: Page, chromium: Browser, daemon: RunningDaemon, make_user: MakeUser, shots: Path, tmp_path: Path
) -> None:
    await make_user("maker", can_create_projects=True)
    await page.goto("/login")
    await page.get_by_label("Username or email").fill("maker")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(f"{daemon.base_url}/settings")

    await page.goto("/dashboard/store/projects/new")
    await page.get_by_label("Title", exact=True).fill("Handy Tools")
    await page.get_by_label("Slug", exact=True).fill("handy-tools")
    await page.get_by_label("Type", exact=True).select_option("software")
    await page.get_by_label("Category", exact=True).select_option("software")
    await page.get_by_label("Public", exact=True).check()
    await page.get_by_role("button", name="Create the project").click()
    await expect(page.get_by_role("status")).to_have_text("The project was saved.")

    await page.get_by_role("link", name="Add an item").click()
    await page.get_by_label("Title", exact=True).fill("Release Notes Tool")
    await page.get_by_label("Slug", exact=True).fill("notes-tool")
    await page.get_by_label("Type", exact=True).select_option("download")
    await page.get_by_label("Description", exact=True).fill("Writes release notes from your commits.")
    await page.get_by_label("Body (markdown; the text of an article)").fill("## How to use\n\nRun **notes**.")
    await page.get_by_role("button", name="Create the item").click()
    await expect(page.get_by_role("status")).to_have_text("The item was saved.")

    upload = page.locator("#upload-form")
    await upload.get_by_label("Version", exact=True).fill("1.0.0")
    await upload.get_by_label("What changed").fill("The first release.")
    source = tmp_path / "notes-tool.txt"
    source.write_bytes(FILE)
    await upload.locator('input[type="file"]').set_input_files(source)
    await upload.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("status")).to_have_text("The file was uploaded; it is the current version now.")
    await expect(page.locator("#versions")).to_contain_text("1.0.0 (current)")
    await shoot(page, shots, "dashboard-item")

    visitor = await chromium.new_context(base_url=daemon.base_url, viewport=DESKTOP, accept_downloads=True)
    visitor.set_default_timeout(TIMEOUT_MS)
    try:
        item_page = await visitor.new_page()
        # The visitor finds it from the home page, with a typo.
        await item_page.goto("/")
        await item_page.get_by_role("search").get_by_role("searchbox").fill("relase notes")
        await item_page.get_by_role("search").get_by_role("button", name="Search").click()
        await expect(item_page.locator("#typo-note")).to_contain_text("release notes")
        found = item_page.locator("#item-results").get_by_role("link", name="Release Notes Tool")
        await expect(found).to_be_visible()
        await shoot(item_page, shots, "search")
        await found.click()
        await expect(item_page).to_have_url(f"{daemon.base_url}/@maker/handy-tools/notes-tool")
        await expect(item_page.get_by_role("heading", level=1)).to_have_text("Release Notes Tool")
        await expect(item_page.locator("#price")).to_have_text("Free")
        await expect(item_page.locator("#body strong")).to_have_text("notes")
        await shoot(item_page, shots, "item")
        async with item_page.expect_download() as info:
            await item_page.locator("#download").click()
        download = await info.value
        assert download.suggested_filename == "notes-tool.txt"
        saved = tmp_path / "downloaded.txt"
        await download.save_as(saved)
        assert saved.read_bytes() == FILE

        await item_page.goto("/@maker/handy-tools")
        await expect(item_page.get_by_role("link", name="Release Notes Tool")).to_be_visible()
        await shoot(item_page, shots, "project")
    finally:
        await visitor.close()
