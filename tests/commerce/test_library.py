"""The buyer's library, signed download links, receipts and sale notices, the JSON API, payments off."""

from __future__ import annotations

import re
import time
import uuid
from html import unescape
from pathlib import Path
from typing import Any

from mnwd.accounts.personal_tokens import create_token
from mnwd.commerce.library import LINK_SECONDS, _mac
from mnwd.mail import read_outbox
from tests.commerce.shop import Shop
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs


def _links(text: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'class="download" href="([^"]+)"', text)]


async def test_the_library_lists_purchases_with_links_that_work_without_cookies(
    shop: Shop, aiohttp_client: Any
) -> None:
    item = await shop.item("album", b"album bytes", price_cents=1500)
    await shop.buy(item)
    page = await shop.buyer.get("/library")
    assert page.has("Album")
    assert 'href="/library/keys">License keys</a>' in page.text
    [link] = _links(page.text)
    assert link.startswith("/@maker/shop/album/download?grant=")
    stranger = Browser(await aiohttp_client(shop.client.server))
    async with stranger.client.get(link) as response:
        assert response.status == 200
        assert await response.read() == b"album bytes"
    again = _links((await shop.buyer.get("/library")).text)
    assert again  # made anew on each visit


async def test_a_grant_is_refused_when_forged_expired_or_for_another_item(shop: Shop, aiohttp_client: Any) -> None:
    item = await shop.item("one", b"one", price_cents=1500)
    other = await shop.item("two", b"two", price_cents=1500)
    await shop.buy(item)
    [link] = _links((await shop.buyer.get("/library")).text)
    grant = link.split("grant=")[1]
    transaction_id, item_id, expires, mac = grant.split(".")
    stranger = Browser(await aiohttp_client(shop.client.server))
    attempts = [
        f"/@maker/shop/two/download?grant={grant}",
        f"/@maker/shop/two/download?grant={transaction_id}.{other['id']}.{expires}.{mac}",
        f"/@maker/shop/one/download?grant={transaction_id}.{item_id}.{int(expires) + 60}.{mac}",
        f"/@maker/shop/one/download?grant={transaction_id}.{item_id}.{expires}.{'0' * 40}",
        "/@maker/shop/one/download?grant=../../etc",
        "/@maker/shop/one/download?grant=",
    ]
    for attempt in attempts:
        async with stranger.client.get(attempt) as response:
            assert response.status == 403, attempt
    old = int(time.time()) - 1
    stale_mac = _mac(shop.services, uuid.UUID(transaction_id), uuid.UUID(item_id), old)
    stale = f"{transaction_id}.{item_id}.{old}.{stale_mac}"
    async with stranger.client.get(f"/@maker/shop/one/download?grant={stale}") as response:
        assert response.status == 403
    assert LINK_SECONDS == 600


async def test_another_buyer_cannot_reach_a_purchase_by_id(
    shop: Shop, make_user: MakeUser, aiohttp_client: Any
) -> None:
    item = await shop.item("private", b"bytes", price_cents=1500)
    transaction_id = await shop.buy(item)
    await make_user("mallory")
    mallory = Browser(await aiohttp_client(shop.client.server))
    await sign_in(mallory, "mallory")
    assert (await mallory.get(f"/checkout/{transaction_id}")).status == 404
    assert (await mallory.get("/library")).has("Nothing yet")
    async with mallory.client.get("/@maker/shop/private/download") as response:
        assert response.status == 403
    response = await mallory.client.get(f"/api/v1/purchases/{transaction_id}")
    assert response.status == 404


async def test_receipt_and_sale_notice_honour_notify_sale(shop: Shop) -> None:
    first = await shop.item("first", price_cents=1000)
    second = await shop.item("second", price_cents=1000)
    await shop.buy(first)
    await run_jobs(shop.services)
    await shop.pool.execute("UPDATE users SET notify_sale = false WHERE username = 'maker'")
    await shop.buy(second)
    await run_jobs(shop.services)
    outbox = read_outbox(Path(shop.services.config.data_dir) / "outbox")
    subjects = sorted((str(m["To"]), str(m["Subject"])) for m in outbox)
    assert subjects == [
        ("buyer@example.org", "Your receipt: First"),
        ("buyer@example.org", "Your receipt: Second"),
        ("maker@example.org", "New sale: First"),
    ]
    (notice,) = [m for m in outbox if str(m["To"]) == "maker@example.org"]
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(notice["List-Unsubscribe"]).startswith("<http")


async def test_the_json_api_checks_out_and_lists(shop: Shop) -> None:
    item = await shop.item("api", price_cents=1200)
    pwyw = await shop.item("api-pwyw", price_cents=500, pwyw_min_cents=400)
    issued = await create_token(
        shop.services, shop.buyer_id, name="t", scopes=["purchases:read", "purchases:write"], expires_days=None
    )
    headers = {"Authorization": f"Bearer {issued.secret}"}
    async with shop.client.post(
        "/api/v1/checkout", json={"item_id": item["id"], "amount_cents": 1}, headers=headers
    ) as r:
        assert r.status == 422
    async with shop.client.post(
        "/api/v1/checkout", json={"item_id": pwyw["id"], "amount_cents": 399}, headers=headers
    ) as r:
        assert r.status == 422
    async with shop.client.post("/api/v1/checkout", json={}, headers=headers) as r:
        assert r.status == 422
    async with shop.client.post("/api/v1/checkout", json={"item_id": item["id"]}, headers=headers) as r:
        assert r.status == 201
        doc = await r.json()
    session_id = doc["checkout_url"].rsplit("/", 1)[1]
    assert shop.fake.objects[session_id]["amount_total"] == 1200
    shop.fake.pay(session_id)
    await shop.fake.settle()
    async with shop.client.get("/api/v1/purchases", headers=headers) as r:
        listed = await r.json()
    assert [(p["id"], p["status"], p["access"]) for p in listed["purchases"]] == [
        (doc["transaction_id"], "completed", True)
    ]
    async with shop.client.post("/api/v1/checkout", json={"item_id": item["id"]}, headers=headers) as r:
        assert r.status == 409
        assert (await r.json())["type"].endswith("/already-purchased")
    reader = await create_token(shop.services, shop.buyer_id, name="r", scopes=["purchases:read"], expires_days=None)
    async with shop.client.post(
        "/api/v1/checkout", json={"item_id": pwyw["id"]}, headers={"Authorization": f"Bearer {reader.secret}"}
    ) as r:
        assert r.status == 403


async def test_a_seller_who_has_not_connected_cannot_sell(shop: Shop, make_user: MakeUser) -> None:
    await shop.pool.execute("UPDATE users SET stripe_onboarding_complete = false WHERE username = 'maker'")
    item = await shop.item("unready", price_cents=1000)
    page = await shop.buyer.submit("/@maker/shop/unready", f"/checkout/items/{item['id']}", {})
    assert page.status == 409
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions") == 0
