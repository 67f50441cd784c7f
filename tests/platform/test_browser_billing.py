"""A creator's tier in Chromium, against `mnwd serve` and the fake Stripe: the tiers page, Stripe's Checkout
page (the fake's "Pay"), back to the billing page that refreshes itself until the webhook has made the tier
live, a switch to a lower tier, cancelling in the billing portal; then the Fan+ page.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.fakes.stripe import FakeStripe
from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.e2e import TIMEOUT_MS, shoot, sign_in_page
from tests.support.stripe import fake_stripe, payments_daemon

__all__ = ["fake_stripe"]  # the fake Stripe's fixture (tests/support/stripe.py)

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon(tmp_path: Path, db_url: str, fake_stripe: FakeStripe) -> Iterator[RunningDaemon]:
    with payments_daemon(tmp_path / "daemon", db_url, fake_stripe) as running:
        yield running


async def test_a_creator_subscribes_switches_and_cancels_in_the_browser(
    page: Page, daemon: RunningDaemon, fake_stripe: FakeStripe, make_user: MakeUser, pool: asyncpg.Pool, shots: Path
) -> None:
    await make_user("maker", can_create_projects=True)
    base = daemon.base_url
    await sign_in_page(page, "maker", base)

    await page.goto("/settings/billing")
    await expect(page.locator("#effective-tier")).to_have_text("basic")
    await shoot(page, shots, "tiers")
    await page.locator("section[data-tier='big_files']").get_by_role("button", name="Subscribe to Big files").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pay 36.00 USD")
    await shoot(page, shots, "fake-stripe-checkout")
    await page.get_by_role("button", name="Pay 36.00 USD").click()
    await expect(page.locator("#effective-tier")).to_have_text("big_files", timeout=3 * TIMEOUT_MS)
    await expect(page.locator("#subscription-state")).to_contain_text("renews on")
    await shoot(page, shots, "subscribed")

    await page.locator("section[data-tier='small_files']").get_by_role("button", name="Switch to Small files").click()
    await expect(page.locator("#tier-changed")).to_contain_text("small_files")
    await expect(page.locator("#effective-tier")).to_have_text("small_files")
    await shoot(page, shots, "switched")

    await page.get_by_role("button", name="Manage billing (card, invoices, cancel)").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your subscription")
    await shoot(page, shots, "fake-stripe-portal")
    await page.get_by_role("button", name="Cancel subscription").click()
    await expect(page).to_have_url(f"{base}/settings/billing")
    await fake_stripe.settle()
    await page.reload()
    await expect(page.locator("#subscription-state")).to_contain_text("canceled")
    await expect(page.locator("#effective-tier")).to_have_text("basic")
    await shoot(page, shots, "cancelled")
    assert await pool.fetchval("SELECT creator_tier FROM users WHERE username = 'maker'") == "basic"

    await page.goto("/fan-plus")
    await expect(page.locator("#grants")).to_contain_text("supporters")
    await shoot(page, shots, "fan-plus")
    assert all(status == 200 for _, _, status in fake_stripe.deliveries)
