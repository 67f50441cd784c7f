"""A server without MNWD_STRIPE_SECRET_KEY: the billing pages and Fan+ say payments are not configured and their
forms answer 503; nothing is written."""

from __future__ import annotations

import asyncpg

from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


async def test_billing_pages_without_payments(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    page = await browser.get("/settings/billing")
    assert page.status == 200
    assert "Payments are not configured on this site." in page.text
    assert 'action="/settings/billing/tier"' not in page.text
    refused = await browser.post("/settings/billing/tier", {"csrf_token": page.csrf, "tier": "big_files"})
    assert refused.status == 503
    fan = await browser.get("/fan-plus")
    assert "Payments are not configured on this site." in fan.text
    assert (await browser.post("/fan-plus/subscribe", {"csrf_token": fan.csrf})).status == 503
    assert await pool.fetchval("SELECT count(*) FROM creator_subscriptions") == 0
    assert await pool.fetchval("SELECT count(*) FROM fan_plus_subscriptions") == 0
