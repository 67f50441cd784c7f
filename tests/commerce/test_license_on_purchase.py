"""Commerce and licensing together: paying for an item that has license keys switched on gives the buyer
exactly one key, however many times Stripe delivers the completed checkout; a refund revokes it."""

from __future__ import annotations

import asyncio

import orjson

from mnwd.licensing import DOMAIN as LICENSING
from mnwd.licensing import keys
from mnwd.maintenance import run_task
from tests.commerce.shop import Shop, session_of


async def test_paying_for_a_licensed_item_issues_one_key_and_a_refund_revokes_it(shop: Shop) -> None:
    item = await shop.item("app", b"the app", price_cents=2500)
    await shop.pool.execute("UPDATE items SET enable_license_keys = true WHERE id = $1", item["id"])
    location = await shop.start_buying(item)
    session_id = session_of(location)
    shop.fake.pay(session_id)
    await shop.fake.settle()
    (event,) = [e for e in shop.fake.events if e["type"] == "checkout.session.completed"]
    await asyncio.gather(*(shop.fake.deliver(orjson.dumps(event).decode()) for _ in range(5)))
    while await shop.services.jobs.run_due():
        continue
    rows = await shop.pool.fetch(
        "SELECT k.* FROM license_keys k JOIN transactions t ON t.id = k.transaction_id "
        "WHERE t.stripe_checkout_session_id = $1",
        session_id,
    )
    assert len(rows) == 1
    assert rows[0]["owner_id"] == shop.buyer_id
    assert rows[0]["status"] == "active"
    key = shop.services.keyring.decrypt("licensing.key", rows[0]["key_code"])
    assert rows[0]["key_hash"] == keys.key_hash(key)

    sales = await shop.maker.get("/dashboard/commerce/sales")
    page = await shop.maker.post(
        f"/dashboard/commerce/sales/{rows[0]['transaction_id']}/refund", {"amount": "", "csrf_token": sales.csrf}
    )
    assert page.status == 303
    await shop.fake.settle()
    for task in LICENSING.periodic:
        await run_task(shop.services, task)
    status = await shop.pool.fetchval("SELECT status FROM license_keys WHERE id = $1", rows[0]["id"])
    assert status == "revoked"
