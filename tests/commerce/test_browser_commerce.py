"""Buying in Chromium, against `mnwd serve` and the fake Stripe: the creator connects Stripe (the fake's
onboarding page), the buyer pays on the fake Checkout page, waits on the status page, finds the item in
``/library`` and downloads it through its signed link.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import DESKTOP, TIMEOUT_MS, shoot, sign_in_page
from tests.support.stripe import payments_daemon

pytestmark = pytest.mark.e2e

FILE = b"a paid album, track 1\n" * 400


@pytest.fixture
def daemon(tmp_path: Path, db_url: str, fake_stripe: FakeStripe) -> Iterator[RunningDaemon]:
    with payments_daemon(tmp_path / "daemon", db_url, fake_stripe) as running:
        yield running


async def _publish(services: Services, daemon: RunningDaemon, maker_id: Any) -> None:
    issued = await create_token(services, maker_id, name="e2e", scopes=["store:write"], expires_days=None)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    async with aiohttp.ClientSession(daemon.base_url, headers=headers) as api:
        async with api.post(
            "/api/v1/projects", json={"slug": "music", "title": "Music", "type": "music", "visibility": "public"}
        ) as response:
            assert response.status == 201, await response.text()
            project = await response.json()
        async with api.post(
            f"/api/v1/projects/{project['id']}/items",
            json={"slug": "album", "title": "First Album", "type": "download", "price_cents": 1200},
        ) as response:
            assert response.status == 201, await response.text()
            item = await response.json()
        async with api.put(
            f"/api/v1/items/{item['id']}/versions?version=1.0&filename=album.txt", data=FILE
        ) as response:
            assert response.status == 201, await response.text()


async def test_a_creator_connects_stripe_and_a_buyer_pays_and_downloads(
    page: Page,
    chromium: Browser,
    daemon: RunningDaemon,
    fake_stripe: FakeStripe,
    services: Services,
    make_user: MakeUser,
    shots: Path,
    tmp_path: Path,
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await make_user("buyer")
    base = daemon.base_url

    await sign_in_page(page, "maker", base)
    await page.goto("/dashboard/commerce")
    await expect(page.locator("#stripe-status")).to_have_text("Not connected.")
    await shoot(page, shots, "payments-not-connected")
    await page.get_by_role("button", name="Connect with Stripe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Set up payments")
    await shoot(page, shots, "fake-stripe-onboarding")
    await page.get_by_role("button", name="Finish onboarding").click()
    await expect(page).to_have_url(f"{base}/dashboard/commerce")
    await expect(page.locator("#stripe-status")).to_contain_text("Connected")
    await shoot(page, shots, "payments-connected")

    await _publish(services, daemon, maker["id"])

    buyer = await chromium.new_context(base_url=base, viewport=DESKTOP, accept_downloads=True)
    buyer.set_default_timeout(TIMEOUT_MS)
    try:
        shop = await buyer.new_page()
        await sign_in_page(shop, "buyer", base)
        await shop.goto("/@maker/music/album")
        await expect(shop.locator("#price")).to_have_text("12.00 USD")
        await shoot(shop, shots, "item-for-sale")
        await shop.get_by_role("button", name="Buy for 12.00 USD").click()
        await expect(shop.get_by_role("heading", level=1)).to_have_text("Pay 12.00 USD")
        await expect(shop.locator("#products")).to_have_text("First Album")
        await shoot(shop, shots, "fake-stripe-checkout")
        await shop.get_by_role("button", name="Pay 12.00 USD").click()
        status = shop.locator("#purchase-status")
        await expect(status).to_have_attribute("data-status", "completed", timeout=3 * TIMEOUT_MS)
        await shoot(shop, shots, "purchase-complete")

        await shop.get_by_role("link", name="your library").click()
        await expect(shop.get_by_role("heading", level=1)).to_have_text("Your library")
        await expect(shop.locator("#purchases")).to_contain_text("First Album")
        await expect(shop.get_by_role("link", name="License keys")).to_be_visible()
        await shoot(shop, shots, "library")
        async with shop.expect_download() as info:
            await shop.locator("#purchases a.download").click()
        download = await info.value
        saved = tmp_path / "album.txt"
        await download.save_as(saved)
        assert saved.read_bytes() == FILE

        await shop.goto("/@maker/music/album")
        await expect(shop.locator("#owned")).to_be_visible()
    finally:
        await buyer.close()

    await page.goto("/dashboard/commerce/sales")
    await expect(page.locator("#recent")).to_contain_text("First Album")
    await shoot(page, shots, "sales")
    assert all(status == 200 for _, _, status in fake_stripe.deliveries)
