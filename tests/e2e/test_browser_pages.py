"""The account, app and device pages in Chromium at desktop and phone width, against `mnwd serve`.

Each page the tests pass through is kept as two screenshots, 1280 px and 390 px wide, in
``var/test-artifacts/pages/<test>/`` at the repository's root (kept after the run, for people to look at); at
390 px the page must not scroll sideways. The browser opens the site at ``http://localhost:PORT``, the
default public URL, so passkeys work as they do for a new user.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pyotp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import DESKTOP, TIMEOUT_MS, shoot

pytestmark = pytest.mark.e2e

STEP_SECONDS = 30
LIGHT_BACKGROUND = "rgb(251, 251, 253)"
DARK_BACKGROUND = "rgb(20, 20, 22)"


def local_url(daemon: RunningDaemon) -> str:
    return daemon.base_url.replace("127.0.0.1", "localhost")


async def open_context(chromium: Browser, base_url: str) -> BrowserContext:
    context = await chromium.new_context(base_url=base_url, viewport=DESKTOP)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return context


@pytest.fixture
async def site(chromium: Browser, daemon: RunningDaemon) -> AsyncIterator[Page]:
    """A page of a fresh browser at the daemon's default public URL (localhost)."""
    context = await open_context(chromium, local_url(daemon))
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def clipboard(page: Page) -> str:
    text: str = await page.evaluate("navigator.clipboard.readText()")
    return text


async def sign_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(username)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()


async def sign_out(page: Page) -> None:
    await page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")


async def current_nav_item(page: Page) -> str:
    nav = page.get_by_role("navigation", name="Settings")
    current = nav.locator('[aria-current="page"]')
    await expect(current).to_have_count(1)
    return await current.inner_text()


async def test_sign_up_shows_every_problem_then_says_to_check_the_mail(
    site: Page, daemon: RunningDaemon, shots: Path
) -> None:
    page = site
    await page.goto("/signup")
    await expect(page.get_by_role("main")).not_to_contain_text("/@")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_label("Password again").fill("other")
    await page.get_by_role("button", name="Create account").click()
    for field in ("username", "email", "password", "password_confirm"):
        await expect(page.locator(f"#{field}-error")).to_be_visible()
    await expect(page.get_by_label("Username")).to_be_focused()
    await shoot(page, shots, "0-sign-up-errors")

    # A password holding the (short) username is refused; the password field, the first wrong one, has the focus.
    await page.get_by_label("Username").fill("ann")
    await page.get_by_label("Email").fill("ann@example.org")
    await page.get_by_label("Password", exact=True).fill("ann-is-great-2026")
    await page.get_by_label("Password again").fill("ann-is-great-2026")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#password-error")).to_contain_text("must not contain your username")
    await expect(page.get_by_label("Password", exact=True)).to_be_focused()

    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/settings\?saved=signed-up$"))
    await expect(page.get_by_role("status")).to_contain_text("Check your mail: we sent a link to ann@example.org")
    assert await current_nav_item(page) == "Profile & email"
    await shoot(page, shots, "1-signed-up")

    await page.get_by_role("navigation", name="Settings").get_by_role("link", name="Sessions").click()
    assert await current_nav_item(page) == "Sessions"
    await page.get_by_role("navigation", name="Settings").get_by_role("link", name="Two-factor").click()
    assert await current_nav_item(page) == "Two-factor"

    # Dark mode follows the system setting.
    body = page.locator("body")
    await expect(body).to_have_css("background-color", LIGHT_BACKGROUND)
    await page.emulate_media(color_scheme="dark")
    await expect(body).to_have_css("background-color", DARK_BACKGROUND)
    await shoot(page, shots, "2-dark")

    # Start-up printed where to open the site, once, at the default public URL.
    opened = [line for line in daemon.log().splitlines() if line.startswith("open ")]
    assert opened == [f"open {local_url(daemon)}/"]


async def test_backup_codes_copy_download_once_and_codes_left(
    site: Page, make_user: MakeUser, shots: Path, tmp_path: Path
) -> None:
    page = site
    await make_user("bea")
    await sign_in(page, "bea")
    await page.goto("/settings/2fa")
    await page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = "".join((await page.locator("#totp-secret").inner_text()).split())
    totp = pyotp.TOTP(secret)
    enrol_step = totp.timecode(time.time())
    await page.get_by_label("The 6-digit code your app shows").fill(totp.at(enrol_step * STEP_SECONDS))
    await page.get_by_role("button", name="Turn on two-factor authentication").click()
    await expect(page).to_have_url(re.compile(r"/settings/2fa/backup-codes$"))
    codes = await page.locator("ul.codes li").all_inner_texts()
    assert len(codes) == 10

    await page.get_by_role("button", name="Copy codes").click()
    await expect(page.locator(".copied")).to_have_text("Copied.")
    assert (await clipboard(page)).split() == codes
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download as text").click()
    download = await download_info.value
    assert download.suggested_filename == "mnwd-backup-codes.txt"
    saved = tmp_path / "codes.txt"
    await download.save_as(saved)
    assert saved.read_text().split()[-10:] == codes
    await shoot(page, shots, "0-backup-codes")

    # A reload is a GET that shows them no more (and posts nothing: there is still one set of codes).
    await page.reload()
    await expect(page.locator("#codes-gone")).to_contain_text("shown only once")
    await expect(page.locator("ul.codes")).to_have_count(0)
    await shoot(page, shots, "1-reloaded")

    # At sign-in: a code that only looks like a backup code, then a real one in the app's code field.
    await sign_out(page)
    await sign_in(page, "bea")
    code_field = page.get_by_label("Authentication code")
    await code_field.fill("abcd-efgh-jk")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_contain_text("That looks like a backup code, but it is not one of yours")
    await shoot(page, shots, "2-not-a-backup-code")
    await page.get_by_label("Authentication code").fill(codes[0])
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("status")).to_have_text(
        "You signed in with a backup code. You have 9 backup codes left."
    )
    await shoot(page, shots, "3-codes-left")

    await sign_out(page)
    await sign_in(page, "bea")
    await page.get_by_label("Authentication code").fill(codes[0])
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_contain_text("This backup code was already used")


async def test_apps_devices_and_sessions_confirm_before_acting_and_fit_a_phone(
    site: Page, chromium: Browser, daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool, shots: Path
) -> None:
    page = site
    await make_user("cleo", can_create_projects=True)
    await sign_in(page, "cleo")

    # Register an app; the key page copies the client id and the API key.
    await page.goto("/dashboard/apps/new")
    await page.get_by_label("Name").fill("Notes with a rather long name for a small screen")
    await page.get_by_label("Slug").fill("notes")
    await page.get_by_label("Redirect URIs").fill("http://127.0.0.1/callback")
    await page.get_by_role("button", name="Register the app").click()
    client_id = await page.locator("#client-id").inner_text()
    api_key = await page.locator("#api-key").inner_text()
    await page.get_by_role("button", name="Copy client id").click()
    assert await clipboard(page) == client_id
    await page.get_by_role("button", name="Copy API key").click()
    assert await clipboard(page) == api_key
    await shoot(page, shots, "0-app-key")
    await page.get_by_role("link", name="I have saved the key").click()
    await page.get_by_role("button", name="Copy", exact=True).click()
    assert await clipboard(page) == client_id
    await shoot(page, shots, "1-app")

    # A new key only after saying yes; Cancel changes nothing.
    await page.get_by_role("link", name="Make a new API key").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Make a new API key")
    await shoot(page, shots, "2-confirm-rotate")
    await page.get_by_role("link", name="Cancel").click()
    assert await pool.fetchval("SELECT api_key_prefix FROM sync_apps") == api_key[:12]
    await page.get_by_role("link", name="Make a new API key").click()
    await page.get_by_role("button", name="Make a new API key").click()
    await expect(page.locator("#api-key")).not_to_have_text(api_key)

    await page.goto(f"/dashboard/apps/{client_id}")
    await page.get_by_role("link", name="Deactivate the app").click()
    await expect(page.locator("#confirm")).to_contain_text("Its data, devices and settings are kept.")
    await shoot(page, shots, "3-confirm-deactivate")
    await page.get_by_role("button", name="Deactivate the app").click()
    await expect(page.locator("#app-status")).to_have_text("inactive")
    await page.get_by_role("button", name="Reactivate the app").click()

    await page.goto("/dashboard/apps")
    await shoot(page, shots, "4-dashboard-apps")

    # A device with a long name; revoking asks first.
    await pool.execute(
        "INSERT INTO sync_devices (app_id, user_id, device_name, platform) "
        "SELECT $1::uuid, id, $2, 'android' FROM users WHERE username = 'cleo'",
        client_id,
        "Cleo's-phone-with-an-unbroken-name-" + "x" * 40,
    )
    await page.goto("/settings/devices")
    await shoot(page, shots, "5-devices")
    await page.get_by_role("link", name="Revoke").click()
    await expect(page.locator("#confirm")).to_contain_text("can no longer push or pull")
    await shoot(page, shots, "6-confirm-revoke")
    await page.get_by_role("button", name="Revoke the device").click()
    await expect(page.get_by_role("status")).to_contain_text("The device was revoked")
    assert await pool.fetchval("SELECT revoked_at IS NOT NULL FROM sync_devices")

    # A second browser signed in; signing out the others asks first.
    other = await open_context(chromium, local_url(daemon))
    try:
        await sign_in(await other.new_page(), "cleo")
        await page.goto("/settings/sessions")
        await expect(page.locator("tr.session")).to_have_count(2)
        await shoot(page, shots, "7-sessions")
        await page.get_by_role("link", name="Sign out all other sessions").click()
        await expect(page.locator("#confirm")).to_contain_text("Sign out your 1 other session?")
        await page.get_by_role("button", name="Sign out all other sessions").click()
        await expect(page.get_by_role("status")).to_have_text("All your other sessions were signed out.")
        await expect(page.locator("tr.session")).to_have_count(1)
    finally:
        await other.close()


async def test_passkeys_work_at_the_default_url_and_are_explained_elsewhere(
    site: Page, chromium: Browser, daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool, shots: Path
) -> None:
    page = site
    await make_user("dora")
    await sign_in(page, "dora")

    # A platform authenticator, as a laptop with a fingerprint reader has.
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    await page.goto("/settings/passkeys")
    await expect(page.locator("#passkey-host-problem")).to_have_count(0)
    await page.get_by_label("Name").fill("Laptop")
    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_role("button", name="Add a passkey").click()
    await expect(page.get_by_role("status")).to_have_text("Passkey added.")
    await expect(page.locator("tr.passkey")).to_have_count(1)
    await shoot(page, shots, "0-passkeys")

    # Deleting asks first.
    await page.get_by_role("link", name="Delete").click()
    await expect(page.locator("#confirm")).to_contain_text("Delete the passkey “Laptop”?")
    await shoot(page, shots, "1-confirm-delete")
    await page.get_by_role("button", name="Delete the passkey").click()
    await expect(page.get_by_role("status")).to_have_text("Passkey deleted.")
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 0

    # The same site opened at 127.0.0.1: the page says where passkeys work instead of failing in the browser.
    other = await open_context(chromium, daemon.base_url)
    try:
        elsewhere = await other.new_page()
        await sign_in(elsewhere, "dora")
        await elsewhere.goto("/settings/passkeys")
        problem = elsewhere.locator("#passkey-host-problem")
        await expect(problem).to_contain_text(f"Open {local_url(daemon)}/settings/passkeys to use them.")
        await expect(elsewhere.get_by_role("button", name="Add a passkey")).to_have_count(0)
        await shoot(elsewhere, shots, "2-passkeys-at-an-ip")
    finally:
        await other.close()
