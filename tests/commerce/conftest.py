"""A shop for commerce tests: the fake Stripe (``fake_stripe``), the app configured against it, a creator
``maker`` whose Stripe account is connected, a signed-in ``buyer`` browser, and helpers to list items and
buy them through the same forms a browser posts."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.config import Config
from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.store.conftest import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR


@pytest.fixture
async def fake_stripe() -> Any:
    fake = await FakeStripe().start()
    yield fake
    await fake.stop()


@pytest.fixture
def stripe_env(fake_stripe: FakeStripe) -> dict[str, str]:
    """The MNWD_STRIPE_* settings; a test module overrides this fixture to run without payments."""
    return {
        "MNWD_STRIPE_SECRET_KEY": fake_stripe.secret_key,
        "MNWD_STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
        "MNWD_STRIPE_API_BASE": fake_stripe.url,
    }


@pytest.fixture
def config(tmp_path: Path, db_url: str, stripe_env: dict[str, str]) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", **stripe_env},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


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


@pytest.fixture
async def shop(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    fake_stripe: FakeStripe,
    make_user: MakeUser,
    aiohttp_client: Any,
) -> Shop:
    fake_stripe.webhook_url = str(client.make_url("/stripe/webhook"))
    maker = await make_user("maker", can_create_projects=True)
    issued = await create_token(
        services, maker["id"], name="tests", scopes=["store:read", "store:write"], expires_days=None
    )
    maker_api = Api(client, issued.secret, maker["id"])
    maker_browser = Browser(client)
    await sign_in(maker_browser, "maker")
    account = await connect_seller(maker_browser, fake_stripe)
    project = await maker_api.project("shop")
    buyer = await make_user("buyer")
    buyer_browser = Browser(await aiohttp_client(client.server))
    await sign_in(buyer_browser, "buyer")
    return Shop(
        services, client, fake_stripe, maker_browser, maker_api, buyer_browser, buyer["id"], account, project["id"]
    )
