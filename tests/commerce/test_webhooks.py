"""The webhook endpoint: signatures, the ledger, duplicates, livemode, refunds and disputes."""

from __future__ import annotations

import time

import orjson

from tests.commerce.shop import Shop, session_of


async def _pending(shop: Shop, slug: str, price: int = 800) -> tuple[dict[str, object], str]:
    item = await shop.item(slug, price_cents=price)
    location = await shop.start_buying(item)
    return item, session_of(location)


async def test_a_bad_or_stale_signature_is_400_and_changes_nothing(shop: Shop) -> None:
    _, session_id = await _pending(shop, "sig")
    shop.fake.hold = True
    shop.fake.pay(session_id)
    payload = orjson.dumps(shop.fake.events[-1]).decode()
    before = await shop.pool.fetchval("SELECT count(*) FROM subscription_events")
    assert await shop.fake.deliver(payload, secret="whsec_wrong") == 400
    assert await shop.fake.deliver(payload, timestamp=int(time.time()) - 301) == 400
    async with shop.client.post("/stripe/webhook", data=payload.encode()) as response:
        assert response.status == 400
        doc = await response.json(content_type=None)
        assert doc["type"].endswith("/webhook-signature-invalid")
    tampered = payload.replace('"paid"', '"no_payment_required"')
    header = f"t={int(time.time())},v1=00"
    async with shop.client.post("/stripe/webhook", data=tampered, headers={"Stripe-Signature": header}) as response:
        assert response.status == 400
    assert await shop.pool.fetchval("SELECT count(*) FROM subscription_events") == before
    assert (
        await shop.pool.fetchval("SELECT status FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
        == "pending"
    )
    assert await shop.fake.deliver(payload) == 200
    assert (
        await shop.pool.fetchval("SELECT status FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
        == "completed"
    )


async def test_a_redelivery_answers_200_and_does_nothing(shop: Shop) -> None:
    _, session_id = await _pending(shop, "again")
    shop.fake.pay(session_id)
    await shop.fake.settle()
    payload = orjson.dumps(shop.fake.events[-1]).decode()
    await shop.pool.execute(
        "UPDATE transactions SET status = 'failed' WHERE stripe_checkout_session_id = $1", session_id
    )
    async with shop.fake._http.post(  # type: ignore[union-attr]
        shop.fake.webhook_url,  # type: ignore[arg-type]
        data=payload,
        headers={"Stripe-Signature": _sign(shop, payload)},
    ) as response:
        assert response.status == 200
        assert (await response.json())["outcome"] == "duplicate"
    assert (
        await shop.pool.fetchval("SELECT status FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
        == "failed"
    )


def _sign(shop: Shop, payload: str) -> str:
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(payload, shop.fake.webhook_secret))


async def test_a_live_event_on_a_test_key_is_ignored(shop: Shop) -> None:
    _, session_id = await _pending(shop, "live")
    shop.fake.hold = True
    shop.fake.pay(session_id)
    event = dict(shop.fake.events[-1], livemode=True, id="evt_live")
    assert await shop.fake.deliver(orjson.dumps(event).decode()) == 200
    assert await shop.pool.fetchval("SELECT count(*) FROM subscription_events WHERE stripe_event_id = 'evt_live'") == 0
    assert (
        await shop.pool.fetchval("SELECT status FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
        == "pending"
    )


async def test_a_delayed_payment_completes_or_fails_later(shop: Shop) -> None:
    _, later = await _pending(shop, "later")
    _, never = await _pending(shop, "never")
    shop.fake.pay_as = "unpaid"
    shop.fake.pay(later)
    shop.fake.pay(never)
    await shop.fake.settle()
    statuses = "SELECT status FROM transactions WHERE stripe_checkout_session_id = $1"
    assert await shop.pool.fetchval(statuses, later) == "pending"
    shop.fake.settle_async_payment(later, succeeded=True)
    shop.fake.settle_async_payment(never, succeeded=False)
    await shop.fake.settle()
    assert await shop.pool.fetchval(statuses, later) == "completed"
    assert await shop.pool.fetchval(statuses, never) == "failed"


async def test_a_full_refund_revokes_access_and_a_partial_one_keeps_it(shop: Shop) -> None:
    full = await shop.item("full", b"full bytes", price_cents=1000)
    part = await shop.item("part", b"part bytes", price_cents=1000)
    full_id = await shop.buy(full)
    part_id = await shop.buy(part)
    sales = await shop.maker.get("/dashboard/commerce/sales")
    assert f'id="sale-{full_id}"' in sales.text
    page = await shop.maker.post(
        f"/dashboard/commerce/sales/{part_id}/refund", {"amount": "2.50", "csrf_token": sales.csrf}
    )
    assert page.status == 303
    page = await shop.maker.post(
        f"/dashboard/commerce/sales/{full_id}/refund", {"amount": "", "csrf_token": sales.csrf}
    )
    assert page.status == 303
    await shop.fake.settle()
    full_row = await shop.transaction(full_id)
    assert (full_row["status"], full_row["refunded_cents"], full_row["grants_access"]) == ("refunded", 1000, False)
    part_row = await shop.transaction(part_id)
    assert (part_row["status"], part_row["refunded_cents"], part_row["grants_access"]) == ("completed", 250, True)
    async with shop.buyer.client.get("/@maker/shop/full/download") as response:
        assert response.status == 403
    async with shop.buyer.client.get("/@maker/shop/part/download") as response:
        assert response.status == 200
    too_much = await shop.maker.post(
        f"/dashboard/commerce/sales/{part_id}/refund", {"amount": "9.00", "csrf_token": sales.csrf}
    )
    assert too_much.status == 422
    again = await shop.maker.post(
        f"/dashboard/commerce/sales/{full_id}/refund", {"amount": "", "csrf_token": sales.csrf}
    )
    assert again.status == 409


async def test_only_the_seller_refunds(shop: Shop) -> None:
    item = await shop.item("mine", price_cents=1000)
    transaction_id = await shop.buy(item)
    library = await shop.buyer.get("/library")
    page = await shop.buyer.post(
        f"/dashboard/commerce/sales/{transaction_id}/refund", {"amount": "", "csrf_token": library.csrf}
    )
    assert page.status == 403
    assert not [r for r in shop.fake.requests if r[1] == "/v1/refunds"]


async def test_a_dispute_suspends_access_and_winning_it_restores_it(shop: Shop) -> None:
    item = await shop.item("fight", b"bytes", price_cents=1000)
    transaction_id = await shop.buy(item)
    intent = (await shop.transaction(transaction_id))["stripe_payment_intent_id"]
    dispute = shop.fake.dispute(intent)
    await shop.fake.settle()
    async with shop.buyer.client.get("/@maker/shop/fight/download") as response:
        assert response.status == 403
    shop.fake.close_dispute(dispute, won=True)
    await shop.fake.settle()
    async with shop.buyer.client.get("/@maker/shop/fight/download") as response:
        assert response.status == 200
    lost = shop.fake.dispute(intent)
    await shop.fake.settle()
    shop.fake.close_dispute(lost, won=False)
    await shop.fake.settle()
    assert (await shop.transaction(transaction_id))["dispute_status"] == "lost"
    async with shop.buyer.client.get("/@maker/shop/fight/download") as response:
        assert response.status == 403


async def test_a_second_payment_for_an_owned_item_is_refunded(shop: Shop) -> None:
    item = await shop.item("twice", price_cents=700)
    first = session_of(await shop.start_buying(item))
    second = session_of(await shop.start_buying(item))
    shop.fake.pay(first)
    shop.fake.pay(second)
    await shop.fake.settle()
    rows = await shop.pool.fetch("SELECT status FROM transactions WHERE item_id = $1 ORDER BY status", item["id"])
    assert [r["status"] for r in rows] == ["completed", "failed"]
    assert await shop.services.jobs.run_due() >= 1
    refunds = [r for r in shop.fake.requests if r[1] == "/v1/refunds"]
    assert len(refunds) == 1
    assert refunds[0][3]["payment_intent"] == shop.fake.objects[second]["payment_intent"]
    # The refund's charge.refunded makes the second row what it is now: a refunded payment (no access).
    await shop.fake.settle()
    rows = await shop.pool.fetch(
        "SELECT status, refunded_cents, completed_at, grants_access FROM transactions WHERE item_id = $1"
        " ORDER BY status",
        item["id"],
    )
    assert [(r["status"], r["refunded_cents"], r["grants_access"]) for r in rows] == [
        ("completed", 0, True),
        ("refunded", 700, False),
    ]
    assert rows[1]["completed_at"] is not None
    sales = await shop.maker.get("/dashboard/commerce/sales")
    assert sales.has("(refunded 7.00)")
    async with shop.buyer.client.get("/@maker/shop/twice/download") as response:
        assert response.status == 200
    # The job runs at least once: run again, it is answered with the same refund and nothing more is refunded.
    from mnwd.commerce.refunds import refund_duplicate
    from mnwd.db.jobs import Job

    row = await shop.pool.fetchrow("SELECT * FROM jobs WHERE kind = 'commerce.refund_duplicate'")
    job = Job(row["id"], row["kind"], dict(row["payload"]), 2, 5, row["idempotency_key"], row["created_at"])
    await refund_duplicate(shop.services, job)
    charge = shop.fake._charge_of(shop.fake.objects[second]["payment_intent"])
    assert charge["amount_refunded"] == 700


async def test_a_refund_event_from_another_account_changes_nothing(shop: Shop) -> None:
    item = await shop.item("guarded", price_cents=1000)
    transaction_id = await shop.buy(item)
    intent = (await shop.transaction(transaction_id))["stripe_payment_intent_id"]
    charge = {
        "id": "ch_x",
        "object": "charge",
        "payment_intent": intent,
        "amount": 1000,
        "amount_refunded": 1000,
        "refunded": True,
    }
    payload = shop.fake.event("charge.refunded", charge, "acct_someone_else")
    assert await shop.fake.deliver(payload) == 200
    assert (await shop.transaction(transaction_id))["status"] == "completed"
