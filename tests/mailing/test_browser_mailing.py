"""Mailing lists in Chromium, against `mnwd serve`: the creator makes a list, imports a Patreon CSV (preview, then
the background job, watched on the page), writes and sends a broadcast; a visitor signs up on the project page.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import DESKTOP, TIMEOUT_MS, shoot

pytestmark = pytest.mark.e2e

PATREON = (
    b"\xef\xbb\xbfName,Email,Patron Status,Tier\r\n"
    b'"Doe, Jane",jane@example.org,Active patron,Supporter\r\n'
    b"Zo\xeb,zoe@example.org,Active patron,Supporter\r\n"
    b"Old,old@example.org,Former patron,\r\n"
)


async def _sign_in(page: Page, login: str, base_url: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(login)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(f"{base_url}/settings")


async def test_a_creator_imports_and_broadcasts_and_a_visitor_signs_up(
    page: Page, chromium: Browser, daemon: RunningDaemon, services: Services, make_user: MakeUser, shots: Path
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await services.pool.execute(
        "INSERT INTO projects (user_id, slug, title, project_type, is_public)"
        " VALUES ($1, 'tools', 'Tools', 'software', true)",
        maker["id"],
    )
    base = daemon.base_url
    await _sign_in(page, "maker", base)

    await page.goto("/dashboard/lists")
    await page.get_by_label("Name of a new list").fill("Release news")
    await page.get_by_role("button", name="Create the list").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Release news")
    await expect(page.locator("#snippet")).to_contain_text("/subscribe")
    await shoot(page, shots, "list-new")

    await page.get_by_label("From").select_option("patreon")
    upload: FilePayload = {"name": "members.csv", "mimeType": "text/csv", "buffer": PATREON}
    await page.locator("#file").set_input_files(files=[upload])
    await page.get_by_role("button", name="Upload and preview").click()
    await expect(page.locator("#n-new")).to_have_text("2")
    await expect(page.locator("#n-former")).to_have_text("1")
    await shoot(page, shots, "import-preview")
    await page.get_by_role("button", name="Import 2 new subscribers").click()
    # The page reloads itself while the job runs.
    await expect(page.locator("#import-status")).to_have_text("succeeded", timeout=3 * TIMEOUT_MS)
    await expect(page.locator("#progress")).to_contain_text("2 subscribed")
    await shoot(page, shots, "import-done")

    await page.get_by_role("link", name="Release news").click()
    await expect(page.locator("#count-confirmed")).to_have_text("2")
    await page.get_by_label("Subject").fill("Version 2")
    await page.locator("#new-broadcast textarea").fill("**Big** news, see the [notes](https://example.org).")
    await page.get_by_role("button", name="Write a broadcast").click()
    await expect(page.locator("#preview strong")).to_have_text("Big")
    await shoot(page, shots, "broadcast-draft")
    await page.get_by_role("button", name="Send to 2 subscribers now").click()
    await expect(page.locator("#broadcast-status")).to_have_text("sent", timeout=3 * TIMEOUT_MS)
    await expect(page.locator("#n-queued")).to_have_text("2")
    await shoot(page, shots, "broadcast-sent")

    visitor = await chromium.new_context(base_url=base, viewport=DESKTOP)
    visitor.set_default_timeout(TIMEOUT_MS)
    try:
        fan = await visitor.new_page()
        await fan.goto("/@maker/tools")
        form = fan.locator(".mailing-signup")
        await form.get_by_label("Your email address").fill("visitor@example.org")
        await shoot(fan, shots, "project-signup")
        await form.get_by_role("button", name="Subscribe").click()
        await expect(fan.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        await shoot(fan, shots, "signup-done")
    finally:
        await visitor.close()
    pending = await services.pool.fetchval(
        "SELECT confirmed_at IS NULL FROM mailing_list_subscribers WHERE email = 'visitor@example.org'"
    )
    assert pending is True
