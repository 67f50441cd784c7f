"""Helpers of the commerce tests: `Shop` (the fixture's value: the fake Stripe, a connected creator, a signed-in
buyer, and buying through the item page's form); `make_tier` (a tier made on the creator's dashboard); and, from
tests/support, `Api` (a token's JSON API calls),
`connect_seller`, `onward` (where a form's answer sends the browser) and `session_of`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.support.api import Api
from tests.support.browser import Browser
from tests.support.stripe import connect_seller, onward, session_of

__all__ = ["Api", "Shop", "connect_seller", "make_tier", "onward", "session_of"]


@dataclass
class Shop:
    services: Services
    client: TestClient  # type: ignore[type-arg]
    fake: FakeStripe
    maker: Browser
    maker_api: Api
    buyer: Browser
    buyer_id: uuid.UUID
    account: str
    project_id: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.services.pool

    async def item(self, slug: str, data: bytes | None = b"file bytes", **fields: Any) -> dict[str, Any]:
        item = await self.maker_api.item(self.project_id, slug, **fields)
        if data is not None:
            status, doc = await self.maker_api.put_file(item["id"], data, "version=1.0")
            assert status == 201, doc
        return item

    async def start_buying(self, item: dict[str, Any], browser: Browser | None = None, **form: str) -> str:
        """Post the item page's buy form; the Location it answers (Stripe's Checkout page, or ours)."""
        browser = browser or self.buyer
        page = await browser.submit(f"/@maker/shop/{item['slug']}", f"/checkout/items/{item['id']}", form)
        return onward(page)

    async def buy(self, item: dict[str, Any], browser: Browser | None = None, **form: str) -> uuid.UUID:
        """Buy and pay; the transaction id once the webhook has run."""
        location = await self.start_buying(item, browser, **form)
        session_id = session_of(location)
        self.fake.pay(session_id)
        await self.fake.settle()
        row = await self.pool.fetchrow("SELECT id FROM transactions WHERE stripe_checkout_session_id = $1", session_id)
        assert row is not None
        return uuid.UUID(str(row["id"]))

    async def transaction(self, transaction_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM transactions WHERE id = $1", transaction_id)
        assert row is not None
        return row


async def make_tier(shop: Shop, name: str = "Patron", price: str = "5.00", interval: str = "month") -> asyncpg.Record:
    """A subscription tier of the shop's project, made through the creator's dashboard form; its row."""
    page = await shop.maker.submit(
        "/dashboard/commerce/tiers",
        "/dashboard/commerce/tiers",
        {"project_id": shop.project_id, "name": name, "price": price, "billing_interval": interval},
    )
    assert page.status == 303, page.text
    row = await shop.pool.fetchrow("SELECT * FROM subscription_tiers WHERE name = $1", name)
    assert row is not None
    return row
