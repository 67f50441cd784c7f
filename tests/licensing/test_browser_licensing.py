"""License keys in Chromium, against `mnwd serve`: the creator's /dashboard/licenses and an item's license page,
the buyer's /library/keys with the devices an app activated, and freeing one of them.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from mnwd.services import Services
from tests.licensing.conftest import Shop
from tests.support.accounts import PASSWORD
from tests.support.daemon import RunningDaemon, start_daemon
from tests.support.e2e import DESKTOP, TIMEOUT_MS, shoot

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon(tmp_path: Path, db_url: str, services: Services) -> Iterator[RunningDaemon]:
    """`mnwd serve` with this test's secret key, so that it shows the keys the test's services issued."""
    secret = (services.config.data_dir / "secret_key").read_text().strip()
    running = start_daemon(tmp_path / "daemon", {"DATABASE_URL": db_url, "MNWD_SECRET_KEY": secret})
    try:
        yield running
    finally:
        running.stop()


async def _sign_in(page: Page, login: str, base_url: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(login)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(f"{base_url}/settings")


async def test_the_creator_sees_their_keys_and_the_buyer_frees_a_device(
    page: Page, chromium: Browser, daemon: RunningDaemon, shop: Shop, buyer_id: uuid.UUID, shots: Path
) -> None:
    base = daemon.base_url
    key = await shop.buy_key(buyer_id, max_activations=3, entitlements=["pro"])
    async with aiohttp.ClientSession(base) as app:
        for fingerprint, name, platform in [("f1", "Studio iMac", "macos"), ("f2", "Old ThinkPad", "linux")]:
            body = {"key": key, "fingerprint": fingerprint, "name": name, "platform": platform, "app_version": "2.1"}
            async with app.post("/api/v1/licenses/activate", json=body) as response:
                assert response.status == 201, await response.text()

    await _sign_in(page, "maker", base)
    await page.goto("/dashboard/licenses")
    row = page.locator(f"tr[data-item-id='{shop.item_id}']")
    await expect(row.get_by_role("cell")).to_have_text(["App", "tools", "on", "1"])
    await shoot(page, shots, "dashboard-licenses")
    await row.get_by_role("link", name="App").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("License keys · App")
    await expect(page.locator("#keys")).to_contain_text(key[-5:])
    await expect(page.locator("#keys")).not_to_contain_text(key)
    await shoot(page, shots, "dashboard-item-licenses")

    buyer = await chromium.new_context(base_url=base, viewport=DESKTOP)
    buyer.set_default_timeout(TIMEOUT_MS)
    try:
        library = await buyer.new_page()
        await _sign_in(library, "bob", base)
        await library.goto("/library/keys")
        section = library.locator("section.license-key")
        await expect(section).to_have_count(1)
        await expect(section.locator(".license-key-text")).to_have_text(key)
        await expect(section).to_contain_text("2 of 3 devices in use")
        devices = section.locator("tr.activation")
        # The most recently seen first.
        await expect(devices.locator("td:first-child")).to_have_text(["Old ThinkPad", "Studio iMac"])
        await shoot(library, shots, "library-keys")
        await devices.filter(has_text="Old ThinkPad").get_by_role("button", name="Deactivate").click()
        await expect(library.locator(".flash")).to_have_text("The device was deactivated: its seat is free.")
        await expect(devices).to_have_count(1)
        await expect(devices.locator("td:first-child")).to_have_text(["Studio iMac"])
        await expect(section).to_contain_text("1 of 3 devices in use")
        await shoot(library, shots, "library-keys-after-deactivate")
    finally:
        await buyer.close()
