"""Account recovery pages in a real headless Chromium against `mnwd serve`, at desktop and phone width:
forgot password → reset mail → new password → sign in; and deleting the account."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import Page, expect

from mnwd.mail import read_outbox
from tests.e2e.test_browser_accounts import log_trouble, screenshot
from tests.support.daemon import RunningDaemon, mnwd
from tests.support.e2e import BrowserRun

pytestmark = pytest.mark.e2e

USERNAME = "e2e-rosa"
EMAIL = "e2e-rosa@example.org"
PASSWORD = "the first e2e passphrase 3"
NEW_PASSWORD = "the second e2e passphrase 4"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def create_user(daemon: RunningDaemon) -> None:
    done = mnwd(
        daemon.env,
        "user",
        "create",
        "--username",
        USERNAME,
        "--email",
        EMAIL,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr


async def mailed_link(daemon: RunningDaemon, marker: str) -> str:
    """The link in the first mail holding ``marker``, once the daemon's job queue has sent it."""
    outbox = Path(daemon.env["MNWD_DATA_DIR"]) / "outbox"
    for _ in range(200):
        for mail in read_outbox(outbox):
            for line in mail.get_body().get_content().splitlines():
                if marker in line:
                    return line.strip()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail with {marker} in {outbox}")


async def both_widths(page: Page, shots: Path, name: str) -> None:
    await page.set_viewport_size(PHONE)
    await screenshot(page, shots, f"{name}-390")
    overflow = await page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not overflow, f"{name} overflows at 390 px"
    await page.set_viewport_size(DESKTOP)
    await screenshot(page, shots, name)


async def sign_in(page: Page, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(USERNAME)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()


async def test_forgot_password_then_sign_in_with_the_new_one(
    page: Page, daemon: RunningDaemon, browser_run: BrowserRun, tmp_path: Path
) -> None:
    base = daemon.base_url
    shots = tmp_path / "screenshots"
    shots.mkdir()
    create_user(daemon)

    await page.goto("/login")
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page).to_have_url(f"{base}/login/forgot")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    await page.get_by_label("Email").fill(EMAIL)
    await both_widths(page, shots, "0-forgot")
    await page.get_by_role("button", name="Send me a reset link").click()
    await expect(page.get_by_role("status")).to_contain_text(f"If {EMAIL} belongs to an account")

    link = await mailed_link(daemon, "/login/reset/")
    # The mail links to the public URL (localhost); this browser is on the daemon's 127.0.0.1 address.
    assert urlsplit(link).path.startswith("/login/reset/")
    await page.goto(urlsplit(link).path)
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Choose a new password for @{USERNAME}")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await both_widths(page, shots, "1-reset")
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")
    await both_widths(page, shots, "2-reset-done")

    # The link works once; the old password no longer signs in, the new one does.
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    browser_run.problems.clear()  # the used link answered 410, as it should
    await sign_in(page, PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    browser_run.problems.clear()  # the refused password answered 401, as it should
    await sign_in(page, NEW_PASSWORD)
    await expect(page).to_have_url(f"{base}/settings")

    assert browser_run.problems == []
    assert log_trouble(daemon) == []
    assert link.rsplit("/", 1)[1] not in daemon.log()


async def test_delete_the_account_after_reading_what_goes(
    page: Page, daemon: RunningDaemon, browser_run: BrowserRun, tmp_path: Path
) -> None:
    base = daemon.base_url
    shots = tmp_path / "screenshots"
    shots.mkdir()
    create_user(daemon)
    await sign_in(page, PASSWORD)
    await expect(page).to_have_url(f"{base}/settings")

    await page.get_by_role("navigation", name="Settings").get_by_role("link", name="Account").click()
    await expect(page).to_have_url(f"{base}/settings/account")
    await both_widths(page, shots, "3-account")
    # Some time later: the password is asked again, then the page comes back.
    connection = await asyncpg.connect(daemon.env["DATABASE_URL"])
    try:
        await connection.execute("UPDATE user_sessions SET reauthenticated_at = now() - interval '1 hour'")
    finally:
        await connection.close()
    await page.get_by_role("link", name="Delete your account").click()
    await expect(page).to_have_url(f"{base}/settings/confirm?next=/settings/delete")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await both_widths(page, shots, "3-confirm")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page).to_have_url(f"{base}/settings/delete")
    await expect(page.locator("#deletion-summary")).to_contain_text("Deleted, with their keys: 0 apps you registered.")
    await page.get_by_label("Type your username to confirm").fill(USERNAME)
    await both_widths(page, shots, "4-delete")
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account is deleted")
    await expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    await both_widths(page, shots, "5-deleted")

    await sign_in(page, PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    browser_run.problems.clear()  # the refused sign-in answered 401, as it should
    listed = mnwd(daemon.env, "user", "suspend", USERNAME)
    assert listed.returncode != 0
    assert log_trouble(daemon) == []
