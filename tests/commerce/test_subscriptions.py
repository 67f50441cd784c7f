"""Subscription tiers: Product and Price on the creator's account, subscribing, renewals, out-of-order
events, cancelling in the billing portal."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import asyncpg

from tests.commerce.shop import Shop, make_tier, onward, session_of


async def _subscribe(shop: Shop, tier: asyncpg.Record, **form: str) -> tuple[str, Any]:
    page = await shop.buyer.submit("/memberships/maker", f"/checkout/tiers/{tier['id']}", form)
    session_id = session_of(onward(page))
    row = await shop.pool.fetchrow("SELECT * FROM subscriptions WHERE stripe_checkout_session_id = $1", session_id)
    assert row is not None
    return session_id, row["id"]


async def _subscription(shop: Shop, subscription_id: Any) -> asyncpg.Record:
    row = await shop.pool.fetchrow("SELECT * FROM subscriptions WHERE id = $1", subscription_id)
    assert row is not None
    return row


async def test_a_tier_gets_its_product_and_price_on_the_creators_account(shop: Shop) -> None:
    tier = await make_tier(shop)
    price = shop.fake.objects[tier["stripe_price_id"]]
    assert price["_account"] == shop.account
    assert price["unit_amount"] == 500
    assert price["recurring"] == {"interval": "month"}
    assert shop.fake.objects[tier["stripe_product_id"]]["_account"] == shop.account
    bad = await shop.maker.submit(
        "/dashboard/commerce/tiers",
        "/dashboard/commerce/tiers",
        {"project_id": shop.project_id, "name": "", "price": "0.10"},
    )
    assert bad.status == 422
    assert await shop.pool.fetchval("SELECT count(*) FROM subscription_tiers") == 1


async def test_a_subscription_is_created_renewed_and_cancelled(shop: Shop) -> None:
    tier = await make_tier(shop)
    members = await shop.buyer.get("/memberships/maker")
    assert members.has("Patron")
    session_id, subscription_id = await _subscribe(shop, tier)
    session = shop.fake.objects[session_id]
    assert session["mode"] == "subscription"
    assert session["_account"] == shop.account
    assert (await _subscription(shop, subscription_id))["status"] == "incomplete"
    shop.fake.pay(session_id)
    await shop.fake.settle()
    row = await _subscription(shop, subscription_id)
    assert row["status"] == "active"
    assert row["stripe_subscription_id"].startswith("sub_")
    first_end = row["current_period_end"]
    assert first_end is not None
    status = await shop.buyer.get(f"/checkout/subscriptions/{subscription_id}")
    assert 'data-status="active"' in status.text
    sales = await shop.maker.get("/dashboard/commerce/sales")
    assert sales.has("1 active · MRR 5.00 USD")

    shop.fake.renew(row["stripe_subscription_id"])
    await shop.fake.settle()
    renewed = await _subscription(shop, subscription_id)
    assert renewed["current_period_end"] > first_end
    assert renewed["status"] == "active"

    library = await shop.buyer.get("/library")
    assert f'id="subscription-{subscription_id}" data-status="active"' in library.text
    page = await shop.buyer.post(f"/library/subscriptions/{subscription_id}/manage", {"csrf_token": library.csrf})
    portal = onward(page)
    assert re.search(r"/portal/bps_", portal)
    async with aiohttp.ClientSession() as stripe_side, stripe_side.post(portal, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"].endswith("/library")
    await shop.fake.settle()
    cancelled = await _subscription(shop, subscription_id)
    assert cancelled["status"] == "canceled"
    assert cancelled["canceled_at"] is not None
    history = await shop.pool.fetch(
        "SELECT event_type FROM subscription_events WHERE subscription_id = $1 ORDER BY created_at", subscription_id
    )
    assert "customer.subscription.deleted" in [r["event_type"] for r in history]
    sales = await shop.maker.get("/dashboard/commerce/sales")
    assert sales.has("No active subscribers.")


async def test_updated_delivered_before_created_ends_in_the_right_state(shop: Shop) -> None:
    tier = await make_tier(shop)
    session_id, subscription_id = await _subscribe(shop, tier)
    shop.fake.hold = True
    shop.fake.pay(session_id)
    stripe_id = shop.fake.objects[session_id]["subscription"]
    shop.fake.update_subscription(stripe_id, cancel_at_period_end=True)
    shop.fake.reorder = True
    shop.fake.hold = False
    await shop.fake.release()
    kinds = [d[0] for d in shop.fake.deliveries]
    assert kinds.index("customer.subscription.updated") < kinds.index("customer.subscription.created")
    assert all(d[2] == 200 for d in shop.fake.deliveries)
    row = await _subscription(shop, subscription_id)
    assert row["status"] == "active"
    assert row["cancel_at_period_end"] is True
    assert row["stripe_subscription_id"] == stripe_id


async def test_an_old_snapshot_delivered_again_later_changes_nothing(shop: Shop) -> None:
    tier = await make_tier(shop)
    session_id, subscription_id = await _subscribe(shop, tier)
    shop.fake.pay(session_id)
    await shop.fake.settle()
    created = next(e for e in shop.fake.events if e["type"] == "customer.subscription.created")
    stripe_id = created["data"]["object"]["id"]
    shop.fake.cancel(stripe_id)
    await shop.fake.settle()
    stale = dict(created, id="evt_stale_copy")
    import orjson

    assert await shop.fake.deliver(orjson.dumps(stale).decode()) == 200
    assert (await _subscription(shop, subscription_id))["status"] == "canceled"


async def test_one_active_subscription_per_project(shop: Shop) -> None:
    tier = await make_tier(shop)
    session_id, _ = await _subscribe(shop, tier)
    shop.fake.pay(session_id)
    await shop.fake.settle()
    page = await shop.buyer.submit("/memberships/maker", f"/checkout/tiers/{tier['id']}", {})
    assert page.status == 409


async def test_a_free_trial_code_sets_trial_days(shop: Shop) -> None:
    tier = await make_tier(shop, "Trial tier")
    await shop.pool.execute(
        "INSERT INTO promo_codes (creator_id, code, code_purpose, trial_days, tier_id)"
        " SELECT id, 'TRY14', 'free_trial', 14, $1 FROM users WHERE username = 'maker'",
        tier["id"],
    )
    session_id, subscription_id = await _subscribe(shop, tier, promo_code="try14")
    assert shop.fake.objects[session_id]["_subscription_data"]["trial_period_days"] == "14"
    shop.fake.pay(session_id)
    await shop.fake.settle()
    row = await _subscription(shop, subscription_id)
    assert row["status"] == "active"
    assert row["trial_ends_at"] is not None


async def test_another_buyer_cannot_manage_a_subscription(shop: Shop, aiohttp_client: Any, make_user: Any) -> None:
    from tests.support.accounts import sign_in
    from tests.support.browser import Browser

    tier = await make_tier(shop)
    session_id, subscription_id = await _subscribe(shop, tier)
    shop.fake.pay(session_id)
    await shop.fake.settle()
    await make_user("eve")
    eve = Browser(await aiohttp_client(shop.client.server))
    await sign_in(eve, "eve")
    library = await eve.get("/library")
    page = await eve.post(f"/library/subscriptions/{subscription_id}/manage", {"csrf_token": library.csrf})
    assert page.status == 404
    assert (await eve.get(f"/checkout/subscriptions/{subscription_id}")).status == 404


async def test_an_expired_subscription_checkout_is_marked_expired(shop: Shop) -> None:
    tier = await make_tier(shop)
    session_id, subscription_id = await _subscribe(shop, tier)
    session = dict(shop.fake.objects[session_id], status="expired")
    payload = shop.fake.event("checkout.session.expired", shop.fake._public(session), shop.account)
    assert await shop.fake.deliver(payload) == 200
    assert (await _subscription(shop, subscription_id))["status"] == "expired"


async def test_subscribing_through_the_json_api(shop: Shop) -> None:
    from mnwd.accounts.personal_tokens import create_token

    tier = await make_tier(shop)
    issued = await create_token(
        shop.services, shop.buyer_id, name="t", scopes=["purchases:read", "purchases:write"], expires_days=None
    )
    headers = {"Authorization": f"Bearer {issued.secret}"}
    body = {"tier_id": str(tier["id"]), "amount_cents": 1}
    async with shop.client.post("/api/v1/checkout", json=body, headers=headers) as response:
        assert response.status == 422
    async with shop.client.post("/api/v1/checkout", json={"tier_id": str(tier["id"])}, headers=headers) as response:
        assert response.status == 201
        doc = await response.json()
    shop.fake.pay(doc["checkout_url"].rsplit("/", 1)[1])
    await shop.fake.settle()
    async with shop.client.get("/api/v1/purchases", headers=headers) as response:
        listed = await response.json()
    assert [(s["id"], s["tier"], s["status"]) for s in listed["subscriptions"]] == [
        (doc["subscription_id"], "Patron", "active")
    ]
    assert listed["purchases"] == []


async def test_mrr_counts_what_each_subscription_is_billed(shop: Shop) -> None:
    """A discount code's subscription counts at its discounted price, a yearly one a twelfth, a free trial 0."""

    async def tier_in(slug: str, name: str, price: str, interval: str) -> asyncpg.Record:
        project = await shop.maker_api.project(slug)
        page = await shop.maker.submit(
            "/dashboard/commerce/tiers",
            "/dashboard/commerce/tiers",
            {"project_id": project["id"], "name": name, "price": price, "billing_interval": interval},
        )
        assert page.status == 303, page.text
        row = await shop.pool.fetchrow("SELECT * FROM subscription_tiers WHERE name = $1", name)
        assert row is not None
        return row

    half = await tier_in("zine", "Half off", "10.00", "month")
    yearly = await tier_in("annual", "Yearly", "120.00", "year")
    trial = await tier_in("club", "Club", "8.00", "month")
    await shop.pool.execute(
        "INSERT INTO promo_codes (creator_id, code, code_purpose, discount_type, discount_value, tier_id)"
        " SELECT id, 'HALF', 'discount', 'percent', 50, $1 FROM users WHERE username = 'maker'",
        half["id"],
    )
    await shop.pool.execute(
        "INSERT INTO promo_codes (creator_id, code, code_purpose, trial_days, tier_id)"
        " SELECT id, 'TRY7', 'free_trial', 7, $1 FROM users WHERE username = 'maker'",
        trial["id"],
    )
    for tier, code in ((half, "half"), (yearly, ""), (trial, "try7")):
        session_id, subscription_id = await _subscribe(shop, tier, **({"promo_code": code} if code else {}))
        shop.fake.pay(session_id)
        await shop.fake.settle()
        if tier is half:
            assert shop.fake.objects[session_id]["amount_total"] == 500  # what Stripe bills
            assert (await _subscription(shop, subscription_id))["amount_cents"] == 500
    sales = await shop.maker.get("/dashboard/commerce/sales")
    assert sales.has("3 active · MRR 15.00 USD"), sales.text
