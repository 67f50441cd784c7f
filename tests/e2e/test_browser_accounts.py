"""The accounts pages in a real headless Chromium against `mnwd serve`:
sign up → sign out → sign in → turn on TOTP 2FA → sign out → sign in with password and TOTP code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page, expect

from tests.support.daemon import RunningDaemon
from tests.support.e2e import BrowserRun, capture_full_page

pytestmark = pytest.mark.e2e

USERNAME = "e2e-alice"
EMAIL = "e2e-alice@example.org"
PASSWORD = "a long e2e passphrase 7"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STEP_SECONDS = 30


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    await capture_full_page(page, path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert len(data) > 1000, f"{path} is suspiciously small ({len(data)} bytes)"
    print(f"screenshot: {path}")
    return path


async def sign_out(page: Page, base_url: str) -> None:
    await page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{base_url}/login?signed_out=1")
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()


async def sign_in_with_password(page: Page, base_url: str) -> None:
    await page.goto("/login")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await page.get_by_label("Username or email").fill(USERNAME)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()


async def expect_signed_in_on_settings(page: Page, base_url: str, query: str = "") -> None:
    await expect(page).to_have_url(f"{base_url}/settings{query}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    banner = page.get_by_role("banner")
    await expect(banner.get_by_role("link", name=f"@{USERNAME}")).to_be_visible()
    await expect(banner.get_by_role("button", name="Sign out")).to_be_visible()


def code_after(totp: pyotp.TOTP, used_step: int) -> str:
    """A code the server has not seen: now's, or the next step's while now is still the step used at enrolment.

    The server accepts one step either side of its clock and refuses a step not later than the last one used.
    """
    step = max(totp.timecode(time.time()), used_step + 1)
    return totp.at(step * STEP_SECONDS)


def log_trouble(daemon: RunningDaemon) -> list[str]:
    """Lines of the daemon's log above info level, and lines that are not JSON log records (tracebacks, warnings),
    but for the one line start-up prints for people."""
    trouble = []
    for line in daemon.log().splitlines():
        if line == f"open {daemon.base_url.replace('127.0.0.1', 'localhost')}/":
            continue  # printed once at start-up, for people (tests/e2e/test_browser_pages.py checks it)
        try:
            record = json.loads(line)
        except ValueError:
            trouble.append(line)
            continue
        if record.get("level") not in {"debug", "info"}:
            trouble.append(line)
    return trouble


async def test_sign_up_then_sign_in_with_totp(
    page: Page, daemon: RunningDaemon, browser_run: BrowserRun, tmp_path: Path
) -> None:
    base = daemon.base_url
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # Sign up through the form; a new account lands on its settings, signed in.
    await page.goto("/")
    await page.get_by_role("banner").get_by_role("link", name="Sign up").click()
    await expect(page).to_have_url(f"{base}/signup")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    await page.get_by_label("Username").fill(USERNAME)
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await screenshot(page, shots, "0-sign-up")
    await page.get_by_role("button", name="Create account").click()
    await expect_signed_in_on_settings(page, base, "?saved=signed-up")
    await expect(page.get_by_role("main")).to_contain_text(EMAIL)
    await screenshot(page, shots, "1-signed-up")

    # Sign out, sign in again with the password alone.
    await sign_out(page, base)
    await sign_in_with_password(page, base)
    await expect_signed_in_on_settings(page, base)

    # Turn on two-factor: start, read the key, confirm with a code, see the backup codes.
    await page.get_by_role("navigation", name="Settings").get_by_role("link", name="Two-factor").click()
    await expect(page).to_have_url(f"{base}/settings/2fa")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication")
    await expect(page.locator("#totp-status")).to_have_text("off")
    await page.get_by_role("button", name="Set up two-factor authentication").click()
    await expect(page).to_have_url(f"{base}/settings/2fa/setup")
    await expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    await expect(page.get_by_role("img", name="QR code to add mnwd to your authenticator app")).to_be_visible()
    secret = "".join((await page.locator("#totp-secret").inner_text()).split())
    assert len(secret) == 32, secret
    totp = pyotp.TOTP(secret)
    enrol_step = totp.timecode(time.time())
    await page.get_by_label("The 6-digit code your app shows").fill(totp.at(enrol_step * STEP_SECONDS))
    await screenshot(page, shots, "2-setup")
    await page.get_by_role("button", name="Turn on two-factor authentication").click()
    await expect(page).to_have_url(f"{base}/settings/2fa/backup-codes")
    await expect(page.get_by_role("status")).to_have_text("Two-factor authentication is on.")
    await expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    codes = await page.locator("ul.codes li").all_inner_texts()
    assert len(codes) >= 8, codes
    assert len(set(codes)) == len(codes), codes
    await screenshot(page, shots, "3-backup-codes")
    await page.get_by_role("link", name="I have saved my codes").click()
    await expect(page).to_have_url(f"{base}/settings/2fa")
    await expect(page.locator("#totp-status")).to_have_text("on")
    await expect(page.locator("#backup-codes-left")).to_contain_text(f"You have {len(codes)} unused backup codes.")
    await screenshot(page, shots, "4-two-factor-on")

    # Sign out; the password alone no longer signs in: the code is asked for.
    await sign_out(page, base)
    await sign_in_with_password(page, base)
    await expect(page).to_have_url(f"{base}/login/2fa")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    await expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    code_field = page.get_by_label("Authentication code")
    await expect(code_field).to_be_focused()
    await code_field.fill(code_after(totp, enrol_step))
    await screenshot(page, shots, "5-challenge")
    await page.get_by_role("button", name="Verify").click()
    await expect_signed_in_on_settings(page, base)

    final = await screenshot(page, shots, "6-signed-in-with-totp")
    print(f"final screenshot: {final}")

    # Nothing went wrong on the way, and the daemon wrote neither the key nor a backup code to its log.
    assert browser_run.problems == []
    assert log_trouble(daemon) == []
    log_text = daemon.log()
    assert secret not in log_text
    assert not [code for code in codes if code in log_text]
