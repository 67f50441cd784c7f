"""Fixtures of the commerce tests: the fake Stripe (``fake_stripe``), the app configured against it
(``stripe_env``, ``config``), and ``shop``: a creator ``maker`` whose Stripe account is connected, a
signed-in ``buyer`` browser (helpers in `tests.commerce.shop`)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from tests.commerce.shop import Api, Shop, connect_seller
from tests.fakes.stripe import FakeStripe
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.stripe import config, fake_stripe, stripe_env

__all__ = ["config", "fake_stripe", "stripe_env"]  # the fake Stripe's fixtures (tests/support/stripe.py)


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
