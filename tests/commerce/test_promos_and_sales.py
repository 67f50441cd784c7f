"""Promo codes (percent, fixed, free access, expired, exhausted, wrong item) and the creator's sales pages."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.commerce.shop import Shop, session_of


async def _promo(shop: Shop, **form: str) -> Any:
    page = await shop.maker.submit("/dashboard/commerce/promos", "/dashboard/commerce/promos", form)
    return page


async def _amount(shop: Shop, item: dict[str, Any], code: str) -> int:
    location = await shop.start_buying(item, promo_code=code)
    return int(shop.fake.objects[session_of(location)]["amount_total"])


async def test_percent_and_fixed_discounts(shop: Shop) -> None:
    item = await shop.item("disc", price_cents=2000)
    assert (
        await _promo(shop, code="Half", purpose="discount", discount_type="percent", discount_value="50")
    ).status == 303
    assert (
        await _promo(shop, code="FIVE-OFF", purpose="discount", discount_type="fixed", discount_value="500")
    ).status == 303
    assert await _amount(shop, item, "half") == 1000
    assert await _amount(shop, item, " five-off ") == 1500
    page = await shop.maker.get("/dashboard/commerce/promos")
    assert page.has("HALF")


async def test_a_free_access_code_completes_without_stripe_and_counts_its_use(shop: Shop) -> None:
    item = await shop.item("gift", b"gift bytes", price_cents=2000)
    await _promo(shop, code="GIFT", purpose="free_access", target=f"item:{item['id']}", max_uses="1")
    before = len(shop.fake.requests)
    page = await shop.buyer.submit("/@maker/shop/gift", f"/checkout/items/{item['id']}", {"promo_code": "gift"})
    assert page.status == 303
    assert page.location is not None
    assert page.location.startswith("/checkout/")
    status = await shop.buyer.get(page.location)
    assert 'data-status="completed"' in status.text
    assert len(shop.fake.requests) == before
    async with shop.buyer.client.get("/@maker/shop/gift/download") as response:
        assert await response.read() == b"gift bytes"
    assert await shop.pool.fetchval("SELECT use_count FROM promo_codes WHERE code = 'GIFT'") == 1


async def test_refused_codes_say_why(shop: Shop) -> None:
    item = await shop.item("guarded", price_cents=2000)
    other = await shop.item("other", price_cents=2000)
    await _promo(
        shop,
        code="OLD",
        purpose="discount",
        discount_type="percent",
        discount_value="10",
        expires_at="2020-01-01T00:00:00Z",
    )
    await _promo(shop, code="ONCE", purpose="discount", discount_type="percent", discount_value="10", max_uses="1")
    await _promo(
        shop,
        code="ONLYOTHER",
        purpose="discount",
        discount_type="percent",
        discount_value="10",
        target=f"item:{other['id']}",
    )
    await shop.pool.execute("UPDATE promo_codes SET use_count = 1 WHERE code = 'ONCE'")
    for code, reason in [
        ("OLD", "expired"),
        ("ONCE", "exhausted"),
        ("ONLYOTHER", "wrong-target"),
        ("NOPE", "unknown"),
        ("<b>", "unknown"),
    ]:
        async with shop.buyer.client.post(
            "/api/v1/checkout",
            json={"item_id": item["id"], "promo_code": code},
            headers={"X-CSRF-Token": (await shop.buyer.get("/library")).csrf},
        ) as response:
            assert response.status == 422, code
            assert (await response.json())["reason"] == reason
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions") == 0


async def test_a_promo_form_with_errors_is_shown_again(shop: Shop) -> None:
    page = await _promo(shop, code="x", purpose="discount", discount_type="percent", discount_value="300")
    assert page.status == 422
    assert page.has("3 to 64 letters")
    rival_target = await _promo(
        shop,
        code="TARGET",
        purpose="discount",
        discount_type="percent",
        discount_value="5",
        target="item:00000000-0000-4000-8000-000000000000",
    )
    assert rival_target.status == 422
    assert (await _promo(shop, code="DUP", purpose="free_access")).status == 303
    assert (await _promo(shop, code="dup", purpose="free_access")).status == 422


async def test_sales_dashboard_and_csv(shop: Shop) -> None:
    one = await shop.item("one", price_cents=1000)
    two = await shop.item("two", price_cents=2500)
    await shop.buy(one)
    sold = await shop.buy(two)
    page = await shop.maker.get("/dashboard/commerce/sales")
    assert page.status == 200
    assert page.has("25.00 USD")
    assert f'id="sale-{sold}"' in page.text
    async with shop.maker.client.get("/dashboard/commerce/sales.csv") as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert sorted((r["Item Name"], r["Amount"], r["Buyer Email"]) for r in rows) == [
        ("One", "10.00", "buyer@example.org"),
        ("Two", "25.00", "buyer@example.org"),
    ]
    buyer_csv = await shop.buyer.get("/dashboard/commerce/sales.csv")
    assert buyer_csv.status == 403


async def test_a_formula_in_a_title_is_defused_in_the_csv(shop: Shop) -> None:
    item = await shop.item("formula", price_cents=1000)
    await shop.maker_api.call("PATCH", f"/api/v1/items/{item['id']}", {"title": "=HYPERLINK(1)"})
    await shop.buy(item)
    async with shop.maker.client.get("/dashboard/commerce/sales.csv") as response:
        text = await response.text()
    assert "'=HYPERLINK(1)" in text


async def test_the_last_use_of_a_free_code_goes_to_one_of_two_racing_buyers(
    shop: Shop, make_user: Any, aiohttp_client: Any
) -> None:
    import asyncio

    from tests.support.accounts import sign_in
    from tests.support.browser import Browser

    item = await shop.item("race", price_cents=2000)
    await _promo(shop, code="LASTONE", purpose="free_access", max_uses="1")
    await make_user("second")
    second = Browser(await aiohttp_client(shop.client.server))
    await sign_in(second, "second")
    forms = [(b, (await b.get("/@maker/shop/race")).csrf) for b in (shop.buyer, second)]
    pages = await asyncio.gather(
        *(b.post(f"/checkout/items/{item['id']}", {"promo_code": "LASTONE", "csrf_token": csrf}) for b, csrf in forms)
    )
    assert sorted(p.status for p in pages) == [303, 422]
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions WHERE status = 'completed'") == 1
    assert await shop.pool.fetchval("SELECT use_count FROM promo_codes WHERE code = 'LASTONE'") == 1


async def test_a_double_click_on_a_free_code_buys_once(shop: Shop) -> None:
    import asyncio

    item = await shop.item("twice", price_cents=2000)
    await _promo(shop, code="FREEBIE", purpose="free_access")
    csrf = (await shop.buyer.get("/@maker/shop/twice")).csrf
    pages = await asyncio.gather(
        *(
            shop.buyer.post(f"/checkout/items/{item['id']}", {"promo_code": "FREEBIE", "csrf_token": csrf})
            for _ in range(2)
        )
    )
    assert sorted(p.status for p in pages) == [303, 409]
    assert await shop.pool.fetchval("SELECT count(*) FROM transactions") == 1
    assert await shop.pool.fetchval("SELECT use_count FROM promo_codes WHERE code = 'FREEBIE'") == 1
