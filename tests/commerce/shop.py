"""Helpers of the commerce tests: `Api` (a token's JSON API calls), `Shop` (the fixture's value: the fake
Stripe, a connected creator, a signed-in buyer, and buying through the item page's form), `onward` (where a
form's answer sends the browser), `session_of`, `connect_seller`."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.support.browser import Browser, Page


@dataclass
class Api:
    """The JSON API as one user's personal access token calls it."""

    client: TestClient  # type: ignore[type-arg]
    token: str
    user_id: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.client.request(method, path, json=body, headers=self.headers) as response:
            return response.status, await response.json(content_type=None)

    async def put_file(self, item_id: Any, data: bytes, query: str) -> tuple[int, Any]:
        async with self.client.put(
            f"/api/v1/items/{item_id}/versions?{query}", data=data, headers=self.headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def project(self, slug: str) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "software", "visibility": "public"}
        status, doc = await self.call("POST", "/api/v1/projects", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]

    async def item(self, project_id: Any, slug: str, **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "download", **fields}
        status, doc = await self.call("POST", f"/api/v1/projects/{project_id}/items", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]


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


def onward(page: Page) -> str:
    """Where a form's answer sends the browser: a 303's Location, or the link of our "continue" page."""
    if page.status == 303:
        assert page.location is not None
        return page.location
    assert page.status == 200, page.text
    match = re.search(r'id="continue" href="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def session_of(location: str) -> str:
    match = re.search(r"/pay/(cs_test_[0-9a-f]+)", location)
    assert match, location
    return match.group(1)


async def connect_seller(browser: Browser, fake: FakeStripe) -> str:
    page = await browser.submit("/dashboard/commerce", "/dashboard/commerce/connect", {})
    location = onward(page)
    match = re.search(r"/connect/onboard/(acct_[0-9a-f]+)", location)
    assert match, location
    fake.complete_onboarding(match.group(1))
    await fake.settle()
    return match.group(1)
