"""Buying an item: checkout through the fake Stripe, fulfilment by the webhook, the download that follows."""

from __future__ import annotations

import asyncio
import re

from mnwd.commerce.fulfilment import LICENSE_JOB, RECEIPT_JOB, SALE_JOB
from tests.commerce.shop import Shop, session_of


async def test_connecting_stripe_makes_the_seller_ready(shop: Shop) -> None:
    row = await shop.pool.fetchrow(
        "SELECT stripe_account_id, stripe_onboarding_complete FROM users WHERE username = 'maker'"
    )
    assert row["stripe_account_id"] == shop.account
    assert row["stripe_onboarding_complete"] is True
    created = [r for r in shop.fake.requests if r[1] == "/v1/accounts"]
    assert created[0][3]["controller"] == {
        "stripe_dashboard": {"type": "full"},
        "fees": {"payer": "account"},
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
    }
    page = await shop.maker.get("/dashboard/commerce")
    assert page.has("Connected: your Stripe account")


async def test_a_buyer_pays_and_downloads(shop: Shop) -> None:
    item = await shop.item("song", b"the paid bytes", price_cents=1299)
    page = await shop.buyer.get("/@maker/shop/song")
    assert 'id="buy-form"' in page.text
    async with shop.buyer.client.get("/@maker/shop/song/download") as response:
        assert response.status == 403
    location = await shop.start_buying(item)
    assert location.startswith(shop.fake.url + "/pay/")
    session = shop.fake.objects[session_of(location)]
    assert session["amount_total"] == 1299
    assert session["_account"] == shop.account
    create = next(r for r in shop.fake.requests if r[1] == "/v1/checkout/sessions")
    assert "application_fee_amount" not in str(create[3])
    row = await shop.pool.fetchrow("SELECT * FROM transactions WHERE stripe_checkout_session_id = $1", session["id"])
    assert row["status"] == "pending"
    status = await shop.buyer.get(f"/checkout/{row['id']}")
    assert 'data-status="processing"' in status.text
    shop.fake.pay(session["id"])
    await shop.fake.settle()
    row = await shop.transaction(row["id"])
    assert row["status"] == "completed"
    assert row["platform_fee_cents"] == 0
    assert row["stripe_payment_intent_id"].startswith("pi_")
    status = await shop.buyer.get(f"/checkout/{row['id']}")
    assert 'data-status="completed"' in status.text
    async with shop.buyer.client.get("/@maker/shop/song/download") as response:
        assert response.status == 200
        assert await response.read() == b"the paid bytes"
    page = await shop.buyer.get("/@maker/shop/song")
    assert 'id="owned"' in page.text
    kinds = [r["kind"] for r in await shop.pool.fetch("SELECT kind FROM jobs ORDER BY kind")]
    assert RECEIPT_JOB in kinds
    assert SALE_JOB in kinds
    assert LICENSE_JOB not in kinds


async def test_ten_concurrent_deliveries_fulfil_once(shop: Shop) -> None:
    item = await shop.item("app", price_cents=500)
    await shop.pool.execute("UPDATE items SET enable_license_keys = true WHERE id = $1", item["id"])
    location = await shop.start_buying(item)
    shop.fake.duplicate = 10
    shop.fake.pay(session_of(location))
    await shop.fake.settle()
    outcomes = [d[2] for d in shop.fake.deliveries if d[0] == "checkout.session.completed"]
    assert outcomes == [200] * 10
    rows = await shop.pool.fetch("SELECT status FROM transactions WHERE item_id = $1", item["id"])
    assert [r["status"] for r in rows] == ["completed"]
    jobs = await shop.pool.fetch("SELECT kind, payload FROM jobs ORDER BY kind")
    assert [j["kind"] for j in jobs].count(LICENSE_JOB) == 1
    assert [j["kind"] for j in jobs].count(RECEIPT_JOB) == 1
    ledger = await shop.pool.fetch(
        "SELECT outcome FROM subscription_events WHERE event_type = 'checkout.session.completed'"
    )
    assert [r["outcome"] for r in ledger] == ["fulfilled"]


async def test_prices_cannot_be_set_by_the_client(shop: Shop) -> None:
    item = await shop.item("fixed", price_cents=1500)
    page = await shop.buyer.submit("/@maker/shop/fixed", f"/checkout/items/{item['id']}", {"amount": "0.50"})
    assert page.status == 422
    assert not [r for r in shop.fake.requests if r[1] == "/v1/checkout/sessions"]
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions") == 0


async def test_pay_what_you_want_takes_the_buyers_amount_above_the_minimum(shop: Shop) -> None:
    item = await shop.item("tip", price_cents=500, pwyw_min_cents=300)
    low = await shop.buyer.submit("/@maker/shop/tip", f"/checkout/items/{item['id']}", {"amount": "2.99"})
    assert low.status == 422
    assert "at least 3.00" in low.text
    location = await shop.start_buying(item, amount="7.25")
    assert shop.fake.objects[session_of(location)]["amount_total"] == 725


async def test_the_success_page_never_fulfils(shop: Shop) -> None:
    item = await shop.item("wait", price_cents=900)
    location = await shop.start_buying(item)
    session_id = session_of(location)
    shop.fake.hold = True
    shop.fake.pay(session_id)
    row = await shop.pool.fetchrow("SELECT id FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
    for _ in range(3):
        page = await shop.buyer.get(f"/checkout/{row['id']}?session_id={session_id}")
        assert 'data-status="processing"' in page.text
    assert (await shop.transaction(row["id"]))["status"] == "pending"
    await shop.fake.release()
    assert (await shop.transaction(row["id"]))["status"] == "completed"


async def test_a_bundle_grants_its_parts(shop: Shop) -> None:
    part = await shop.item("part", b"part bytes", price_cents=400)
    bundle = await shop.item("box", None, type="bundle", price_cents=900)
    status, doc = await shop.maker_api.call("PUT", f"/api/v1/items/{bundle['id']}/bundle", {"item_ids": [part["id"]]})
    assert status == 200, doc
    await shop.buy(bundle)
    async with shop.buyer.client.get("/@maker/shop/part/download") as response:
        assert response.status == 200
        assert await response.read() == b"part bytes"
    library = await shop.buyer.get("/library")
    assert library.has("Part")
    links = re.findall(r'class="download" href="([^"]+)"', library.text)
    assert [link.split("?")[0] for link in links] == ["/@maker/shop/part/download"]


async def test_without_a_webhook_nothing_is_granted_and_asyncio_is_quiet(shop: Shop) -> None:
    item = await shop.item("nohook", price_cents=500)
    await shop.start_buying(item)
    await asyncio.sleep(0)
    async with shop.buyer.client.get("/@maker/shop/nohook/download") as response:
        assert response.status == 403


async def test_malformed_amounts_are_refused(shop: Shop) -> None:
    item = await shop.item("odd", price_cents=500, pwyw_min_cents=100)
    for amount in ["NaN", "-5", "1e309", "abc", "9" * 40, "0.001", "Infinity"]:
        page = await shop.buyer.submit("/@maker/shop/odd", f"/checkout/items/{item['id']}", {"amount": amount})
        assert page.status == 422, amount
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions") == 0


async def test_the_owner_and_strangers_to_private_items_cannot_buy(shop: Shop) -> None:
    item = await shop.item("hidden", price_cents=500, visibility="private")
    page = await shop.buyer.post(
        f"/checkout/items/{item['id']}", {"csrf_token": (await shop.buyer.get("/library")).csrf}
    )
    assert page.status == 404
    own = await shop.item("own", price_cents=500)
    page = await shop.maker.post(
        f"/checkout/items/{own['id']}", {"csrf_token": (await shop.maker.get("/library")).csrf}
    )
    assert page.status == 400
    page = await shop.buyer.post("/checkout/items/not-a-uuid", {"csrf_token": (await shop.buyer.get("/library")).csrf})
    assert page.status == 404


async def test_a_late_webhook_leaves_the_buyer_on_processing_until_it_arrives(shop: Shop) -> None:
    item = await shop.item("late", price_cents=900)
    session_id = session_of(await shop.start_buying(item))
    shop.fake.delay = 0.5
    shop.fake.pay(session_id)
    row = await shop.pool.fetchrow("SELECT id FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
    assert 'data-status="processing"' in (await shop.buyer.get(f"/checkout/{row['id']}")).text
    await shop.fake.settle()
    assert 'data-status="completed"' in (await shop.buyer.get(f"/checkout/{row['id']}")).text
