"""A server without MNWD_STRIPE_SECRET_KEY: buy buttons say payments are not configured, nothing else breaks."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.commerce.shop import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


@pytest.fixture
def stripe_env() -> dict[str, str]:
    return {}


async def test_buy_buttons_say_payments_are_not_configured(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    make_user: MakeUser,
    alice: Browser,
) -> None:
    from mnwd.accounts.personal_tokens import create_token

    maker = await make_user("maker", can_create_projects=True)
    issued = await create_token(services, maker["id"], name="t", scopes=["store:write"], expires_days=None)
    api = Api(client, issued.secret, maker["id"])
    project = await api.project("shop")
    item = await api.item(project["id"], "paid", price_cents=900)
    await api.put_file(item["id"], b"bytes", "version=1")
    page = await alice.get("/@maker/shop/paid")
    assert page.status == 200
    assert 'id="payments-off"' in page.text
    assert 'disabled aria-disabled="true" id="buy-button"' in page.text
    refused = await alice.post(f"/checkout/items/{item['id']}", {"csrf_token": page.csrf})
    assert refused.status == 503
    async with client.post("/stripe/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}) as response:
        assert response.status == 503
    async with client.post("/stripe/webhook", data=b"{}") as response:
        assert response.status == 400
    assert (await alice.get("/library")).status == 200
    async with client.get("/@maker/shop/paid/download") as response:
        assert response.status == 403
    maker_browser = Browser(client)  # the same cookie jar: alice is signed out by this
    await sign_in(maker_browser, "maker")
    dashboard = await maker_browser.get("/dashboard/commerce")
    assert dashboard.has("Payments are not configured on this server.")
