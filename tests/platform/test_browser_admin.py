"""An admin in Chromium, against `mnwd serve`: the overview with its charts, finding and suspending a user,
the reports queue, the waitlist with a wave opened from the form, and the audit log showing both actions.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import shoot, sign_in_page

pytestmark = pytest.mark.e2e


async def test_an_admin_walks_the_admin_pages(
    page: Page, daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool, shots: Path
) -> None:
    await make_user("boss", is_admin=True)
    await make_user("rowdy", can_create_projects=True)
    for name in ("hopeful", "eager"):
        user = await make_user(name)
        await pool.execute("INSERT INTO creator_waitlist (user_id, pitch) VALUES ($1, 'Field recordings')", user["id"])
    await sign_in_page(page, "boss", daemon.base_url)

    await page.goto("/admin")
    await expect(page.locator("svg.chart")).to_have_count(3)
    await shoot(page, shots, "overview")

    await page.goto("/admin/users")
    await page.get_by_label("Find").fill("rowd")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="@rowdy").click()
    await page.get_by_label("Reason (shown to the user)").fill("Spam links")
    await page.get_by_role("button", name="Suspend").click()
    await expect(page.locator("#state")).to_contain_text("suspended")
    await shoot(page, shots, "user")

    await page.goto("/admin/moderation")
    await expect(page.locator("#no-reports")).to_be_visible()
    await shoot(page, shots, "reports")

    await page.goto("/admin/waitlist")
    await page.get_by_label("Pick @eager").check()
    await page.get_by_role("button", name="Open a wave of those ticked").click()
    await expect(page.locator("#saved")).to_contain_text("Wave 1 is open: 1 invited")
    await shoot(page, shots, "waitlist")

    await page.goto("/admin/audit")
    await expect(page.locator("tr[data-action='user.suspend']")).to_have_count(1)
    await expect(page.locator("tr[data-action='wave.open']")).to_have_count(1)
    await shoot(page, shots, "audit")
    assert await pool.fetchval("SELECT can_create_projects FROM users WHERE username = 'eager'")
    assert not await pool.fetchval("SELECT can_create_projects FROM users WHERE username = 'hopeful'")
