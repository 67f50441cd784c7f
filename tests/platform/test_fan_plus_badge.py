"""The Fan+ badge beside a supporter's name on their public profile page (`/@username`), while the subscription is
live; the platform answers through a template global, the store's page only asks."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.fakes.stripe import FakeStripe
from tests.platform.test_billing import maker
from tests.support.browser import Browser
from tests.support.stripe import config, fake_stripe, onward, session_of, stripe_env

__all__ = ["config", "fake_stripe", "maker", "stripe_env"]  # the billing tests' fixtures, against the fake Stripe

BADGE = 'id="fan-plus-badge"'


async def test_a_fan_plus_creator_has_the_badge_on_their_profile_while_subscribed(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    maker: Browser,
    fake_stripe: FakeStripe,
    pool: asyncpg.Pool,
) -> None:
    visitor = Browser(await aiohttp_client(client.server))
    before = await visitor.get("/@maker")
    assert before.status == 200
    assert BADGE not in before.text

    session = session_of(onward(await maker.submit("/fan-plus", "/fan-plus/subscribe", {})))
    assert BADGE not in (await visitor.get("/@maker")).text  # a checkout under way is no subscription yet
    fake_stripe.pay(session)
    await fake_stripe.settle()
    page = await visitor.get("/@maker")
    assert BADGE in page.text
    assert 'href="/fan-plus">Fan+</a>' in page.text
    assert BADGE in (await maker.get("/@maker")).text

    subscription = str(fake_stripe.objects[session]["subscription"])
    fake_stripe.fail_payment(subscription)  # past due: still a supporter, as on the supporters' list
    await fake_stripe.settle()
    assert BADGE in (await visitor.get("/@maker")).text
    fake_stripe.cancel(subscription)
    await fake_stripe.settle()
    assert await pool.fetchval("SELECT status FROM fan_plus_subscriptions") == "canceled"
    assert BADGE not in (await visitor.get("/@maker")).text
