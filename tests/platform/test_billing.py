"""Creator tiers billed through Stripe Checkout on the platform's own account (the fake Stripe): subscribe,
upgrade, downgrade (old files stay readable, new uploads refused), a failed payment's grace period, cancelling in
the billing portal, events twice and out of order, two checkouts paid at once; and the pages' refusals."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.mail import read_outbox
from mnwd.platform.billing import enforce_grace
from mnwd.services import Services
from mnwd.tiers import GB
from tests.fakes.stripe import FakeStripe
from tests.platform.clients import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page
from tests.support.outbound import run_jobs
from tests.support.stripe import config, fake_stripe, onward, session_of, stripe_env

__all__ = ["config", "fake_stripe", "stripe_env"]  # the fake Stripe's fixtures (tests/support/stripe.py)


@pytest.fixture
async def maker(
    client: TestClient,  # type: ignore[type-arg]
    make_user: MakeUser,
    fake_stripe: FakeStripe,
) -> Browser:
    fake_stripe.webhook_url = str(client.make_url("/stripe/webhook"))
    await make_user("maker", can_create_projects=True)
    browser = Browser(client)
    await sign_in(browser, "maker")
    return browser


async def choose(browser: Browser, tier: str) -> Page:
    return await browser.submit("/settings/billing", "/settings/billing/tier", {"tier": tier})


async def subscribe(browser: Browser, fake: FakeStripe, tier: str) -> str:
    """Choose a tier and pay on Stripe's page: the Stripe subscription's id."""
    session = session_of(onward(await choose(browser, tier)))
    fake.pay(session)
    await fake.settle()
    return str(fake.objects[session]["subscription"])


async def row(pool: asyncpg.Pool, username: str = "maker") -> asyncpg.Record:
    found = await pool.fetchrow(
        "SELECT s.*, u.creator_tier AS user_tier FROM creator_subscriptions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = $1",
        username,
    )
    assert found is not None
    return found


async def test_a_creator_subscribes_through_checkout_on_the_platform_account(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool
) -> None:
    page = await maker.get("/settings/billing")
    assert page.status == 200
    assert 'data-tier="big_files"' in page.text
    assert "36.00 USD a month" in page.text
    assert 'id="effective-tier">basic<' in page.text
    location = onward(await choose(maker, "big_files"))
    assert location.startswith(fake_stripe.url + "/pay/")
    session = fake_stripe.objects[session_of(location)]
    assert session["_account"] is None, "the platform's own account, not a connected one"
    assert session["metadata"]["mnwd_kind"] == "creator_tier"
    price = fake_stripe.objects[session["_line_items"][0]["price"]]
    assert (price["_account"], price["unit_amount"], price["recurring"]) == (None, 3600, {"interval": "month"})
    assert (await row(pool))["status"] == "incomplete"
    assert (await row(pool))["user_tier"] is None

    fake_stripe.pay(session["id"])
    await fake_stripe.settle()
    paid = await row(pool)
    assert (paid["status"], paid["tier"], paid["user_tier"]) == ("active", "big_files", "big_files")
    assert paid["stripe_subscription_id"] == session["subscription"]
    assert paid["current_period_end"] is not None
    outcomes = await pool.fetch("SELECT event_type, outcome FROM subscription_events ORDER BY created_at")
    # An invoice handled before the session (deliveries run at once) finds no row yet; the others apply.
    assert "creator-tier-active" in {r["outcome"] for r in outcomes}
    assert {r["outcome"] for r in outcomes} <= {"creator-tier-active", "unknown-subscription"}
    page = await maker.get("/settings/billing?checkout=done")
    assert 'id="effective-tier">big_files<' in page.text
    assert 'id="checkout-done"' in page.text
    assert "renews on" in page.text
    # A second checkout while subscribed is a switch, not a second subscription.
    again = await choose(maker, "big_files")
    assert again.status == 409
    # The next tier's price is made once and remembered.
    assert await pool.fetchval("SELECT count(*) FROM platform_prices") == 1


async def test_upgrade_and_downgrade_switch_the_price_and_a_downgrade_keeps_old_files(
    maker: Browser,
    fake_stripe: FakeStripe,
    pool: asyncpg.Pool,
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    subscription = await subscribe(maker, fake_stripe, "small_files")
    upgraded = await choose(maker, "everything")
    assert (upgraded.status, upgraded.location) == (303, "/settings/billing?changed=everything")
    assert fake_stripe.objects[subscription]["items"]["data"][0]["price"]["unit_amount"] == 6000
    assert ((await row(pool))["tier"], (await row(pool))["user_tier"]) == ("everything", "everything")

    maker_id = (await row(pool))["user_id"]
    issued = await create_token(services, maker_id, name="t", scopes=["store:read", "store:write"], expires_days=None)
    api = Api(client, issued.secret)
    project = await api.project("tools")
    item = await api.item(project["id"], "app")
    await pool.execute("UPDATE users SET storage_used_bytes = $1 WHERE id = $2", 5 * GB, maker_id)
    data = b"kept bytes " * 100
    assert (await api.put_file(item["id"], data, "version=1"))[0] == 201

    downgraded = await choose(maker, "basic")
    assert downgraded.location == "/settings/billing?changed=basic"
    await fake_stripe.settle()
    assert ((await row(pool))["status"], (await row(pool))["user_tier"]) == ("active", "basic")
    async with client.get("/@maker/tools/app/download") as response:
        assert response.status == 200
        assert await response.read() == data
    status, problem = await api.put_file(item["id"], b"new", "version=2")
    assert status == 413
    assert (problem["tier"], problem["lifting_tier"]) == ("basic", "small_files")
    assert await pool.fetchval("SELECT count(*) FROM versions") == 1
    assert (await choose(maker, "basic")).status == 409
    assert (await choose(maker, "platinum")).status == 422


async def test_a_failed_payment_keeps_the_tier_for_the_grace_period_then_basic_until_paid(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool, services: Services
) -> None:
    subscription = await subscribe(maker, fake_stripe, "big_files")
    fake_stripe.fail_payment(subscription)
    await fake_stripe.settle()
    failed = await row(pool)
    assert (failed["status"], failed["user_tier"]) == ("past_due", "big_files")
    assert failed["past_due_since"] is not None
    # The invoice carries no metadata: the handlers are asked in turn and the creator tier's claims it.
    invoice_outcomes = await pool.fetch(
        "SELECT outcome FROM subscription_events WHERE event_type = 'invoice.payment_failed'"
    )
    assert [r["outcome"] for r in invoice_outcomes] == ["creator-tier-past_due"]
    assert failed["grace_enforced_at"] is None
    page = await maker.get("/settings/billing")
    assert 'id="past-due"' in page.text
    assert (await choose(maker, "everything")).status == 409
    assert await enforce_grace(services) == 0  # still within the 7 days

    await pool.execute("UPDATE creator_subscriptions SET past_due_since = now() - interval '8 days'")
    assert await enforce_grace(services) == 1
    lapsed = await row(pool)
    assert (lapsed["status"], lapsed["user_tier"]) == ("past_due", "basic")
    assert lapsed["grace_enforced_at"] is not None
    assert 'id="grace-over"' in (await maker.get("/settings/billing")).text
    assert await enforce_grace(services) == 0  # once
    await run_jobs(services)
    mails = [m for m in read_outbox(services.config.data_dir / "outbox") if "tier is basic now" in str(m["Subject"])]
    assert len(mails) == 1
    assert mails[0]["To"] == "maker@example.org"
    # Another event of the still-unpaid subscription does not give the tier back.
    fake_stripe.update_subscription(subscription)
    await fake_stripe.settle()
    assert (await row(pool))["user_tier"] == "basic"

    fake_stripe.renew(subscription)
    await fake_stripe.settle()
    paid = await row(pool)
    assert (paid["status"], paid["user_tier"]) == ("active", "big_files")
    assert (paid["past_due_since"], paid["grace_enforced_at"]) == (None, None)


async def test_cancelling_in_the_billing_portal_falls_back_to_basic(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool
) -> None:
    await subscribe(maker, fake_stripe, "small_files")
    portal = onward(await maker.submit("/settings/billing", "/settings/billing/portal", {}))
    assert portal.startswith(fake_stripe.url + "/portal/")
    async with aiohttp.ClientSession() as stripe_site, stripe_site.post(portal, allow_redirects=False) as answer:
        assert answer.status == 303
        assert answer.headers["Location"].endswith("/settings/billing")
    await fake_stripe.settle()
    ended = await row(pool)
    assert (ended["status"], ended["user_tier"]) == ("canceled", "basic")
    # Subscribing again reuses the row and the Stripe customer.
    again = session_of(onward(await choose(maker, "small_files")))
    assert fake_stripe.objects[again]["metadata"]["mnwd_row_id"] == str(ended["id"])
    assert (await row(pool))["status"] == "incomplete"


async def test_events_twice_and_out_of_order_end_in_stripes_state(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool
) -> None:
    fake_stripe.duplicate = 3
    fake_stripe.reorder = True
    subscription = await subscribe(maker, fake_stripe, "big_files")
    fake_stripe.update_subscription(subscription, cancel_at_period_end=True)
    await fake_stripe.settle()
    current = await row(pool)
    assert (current["status"], current["user_tier"], current["cancel_at_period_end"]) == ("active", "big_files", True)
    assert "ends on" in (await maker.get("/settings/billing")).text
    duplicates = await pool.fetchval("SELECT count(*) FROM subscription_events")
    assert duplicates == len({e["id"] for e in fake_stripe.events})


async def test_two_checkouts_paid_at_once_keep_one_subscription(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool
) -> None:
    first = session_of(onward(await choose(maker, "small_files")))
    second = session_of(onward(await choose(maker, "big_files")))
    fake_stripe.pay(first)
    await fake_stripe.settle()
    fake_stripe.pay(second)
    await fake_stripe.settle()
    kept = await row(pool)
    assert (kept["status"], kept["tier"]) == ("active", "small_files")
    assert kept["stripe_subscription_id"] == fake_stripe.objects[first]["subscription"]
    assert fake_stripe.objects[fake_stripe.objects[second]["subscription"]]["status"] == "canceled"
    outcomes = [r["outcome"] for r in await pool.fetch("SELECT outcome FROM subscription_events")]
    assert "creator-tier-duplicate-canceled" in outcomes


async def test_only_creators_have_a_billing_page(
    client: TestClient,  # type: ignore[type-arg]
    alice: Browser,
    fake_stripe: FakeStripe,
) -> None:
    assert (await alice.get("/settings/billing")).status == 403
    page = await alice.get("/settings")
    refused = await alice.post("/settings/billing/tier", {"csrf_token": page.csrf, "tier": "basic"})
    assert refused.status == 403
    nothing = await alice.post("/settings/billing/portal", {"csrf_token": page.csrf})
    assert nothing.status == 404
    assert fake_stripe.requests == []


async def test_a_subscription_of_a_creators_tier_on_a_connected_account_is_not_taken_for_the_platforms(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool
) -> None:
    """A connected account's subscription event carrying our metadata by accident is commerce's to handle."""
    await subscribe(maker, fake_stripe, "small_files")
    before = await row(pool)
    foreign = {
        "id": "sub_foreign",
        "object": "subscription",
        "status": "canceled",
        "metadata": {"mnwd_kind": "creator_tier", "mnwd_row_id": str(before["id"])},
    }
    status = await fake_stripe.deliver(fake_stripe.event("customer.subscription.deleted", foreign, "acct_someone"))
    assert status == 200
    assert (await row(pool))["status"] == "active"


async def fan_plus_row(pool: asyncpg.Pool, username: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT f.* FROM fan_plus_subscriptions f JOIN users u ON u.id = f.user_id WHERE u.username = $1", username
    )


async def test_fan_plus_says_what_it_grants_and_is_subscribed_and_cancelled(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    alice: Browser,
    fake_stripe: FakeStripe,
    pool: asyncpg.Pool,
) -> None:
    fake_stripe.webhook_url = str(client.make_url("/stripe/webhook"))
    visitor = Browser(await aiohttp_client(client.server))
    public = await visitor.get("/fan-plus")
    assert public.status == 200
    assert 'id="grants"' in public.text
    assert "4.00 USD a month" in public.text
    assert "/login?next=/fan-plus" in public.text
    assert "Nobody yet." in public.text

    page = await alice.get("/fan-plus")
    assert 'id="subscribe-fan-plus"' in page.text
    location = onward(await alice.submit("/fan-plus", "/fan-plus/subscribe", {}))
    session = fake_stripe.objects[session_of(location)]
    assert session["_account"] is None
    assert session["metadata"]["mnwd_kind"] == "fan_plus"
    assert fake_stripe.objects[session["_line_items"][0]["price"]]["unit_amount"] == 400
    fake_stripe.pay(session["id"])
    await fake_stripe.settle()
    paid = await fan_plus_row(pool, "alice")
    assert paid is not None
    assert paid["status"] == "active"
    assert await pool.fetchval("SELECT creator_tier FROM users WHERE username = 'alice'") is None
    page = await alice.get("/fan-plus?checkout=done")
    assert 'id="fan-plus-state"' in page.text
    assert "You are a Fan+ supporter" in page.text
    assert 'data-user="alice"' in (await visitor.get("/fan-plus")).text
    assert (await alice.submit("/fan-plus", "/fan-plus/subscribe", {})).status == 409

    portal = onward(await alice.submit("/fan-plus", "/fan-plus/portal", {}))
    async with aiohttp.ClientSession() as stripe_site, stripe_site.post(portal, allow_redirects=False) as answer:
        assert answer.status == 303
    await fake_stripe.settle()
    ended = await fan_plus_row(pool, "alice")
    assert ended is not None
    assert ended["status"] == "canceled"
    assert 'data-user="alice"' not in (await visitor.get("/fan-plus")).text
    assert 'id="subscribe-fan-plus"' in (await alice.get("/fan-plus")).text


async def test_the_admin_user_page_shows_the_subscriptions(
    maker: Browser,
    fake_stripe: FakeStripe,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
) -> None:
    subscription = await subscribe(maker, fake_stripe, "big_files")
    fake_stripe.fail_payment(subscription)
    await fake_stripe.settle()
    await make_user("boss", is_admin=True)
    boss = Browser(await aiohttp_client(client.server))
    await sign_in(boss, "boss")
    page = await boss.get(f"/admin/users/{(await row(pool))['user_id']}")
    assert page.status == 200
    assert re.search(r'id="tier-subscription">big_files, past_due \(past due since', page.text)
    assert 'id="fan-plus">none<' in page.text
    assert "their next billing event sets the tier back" in page.text


async def test_two_first_checkouts_of_one_tier_at_once_share_one_remembered_price(
    maker: Browser,
    fake_stripe: FakeStripe,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
) -> None:
    await make_user("other", can_create_projects=True)
    other = Browser(await aiohttp_client(client.server))
    await sign_in(other, "other")
    pages = await asyncio.gather(choose(maker, "everything"), choose(other, "everything"))
    sessions = [fake_stripe.objects[session_of(onward(page))] for page in pages]
    remembered = await pool.fetch("SELECT stripe_price_id FROM platform_prices WHERE plan = 'everything'")
    assert len(remembered) == 1
    assert {s["_line_items"][0]["price"] for s in sessions} == {remembered[0]["stripe_price_id"]}
