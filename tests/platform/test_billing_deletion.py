"""Deleting an account stops the platform's own subscriptions it leaves at Stripe: a creator's tier and Fan+ are
cancelled on the platform's account by a durable job, once; an abandoned checkout is expired."""

from __future__ import annotations

import asyncpg

from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.platform.test_billing import maker, subscribe
from tests.support.browser import Browser, Page
from tests.support.outbound import run_jobs
from tests.support.stripe import config, fake_stripe, onward, session_of, stripe_env

__all__ = ["config", "fake_stripe", "maker", "stripe_env"]  # the billing tests' fixtures, against the fake Stripe


async def _delete(browser: Browser, username: str) -> Page:
    page = await browser.get("/settings/delete")
    assert page.status == 200, page.text
    return await browser.post("/settings/delete", {"confirm_username": username, "csrf_token": page.csrf})


async def _cancel_jobs(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch("SELECT * FROM jobs WHERE kind = 'commerce.cancel_at_stripe'"))


async def test_a_creators_deletion_cancels_their_tier_and_fan_plus_at_stripe(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool, services: Services
) -> None:
    tier = await subscribe(maker, fake_stripe, "small_files")
    fan = session_of(onward(await maker.submit("/fan-plus", "/fan-plus/subscribe", {})))
    fake_stripe.pay(fan)
    await fake_stripe.settle()
    fan_plus = str(fake_stripe.objects[fan]["subscription"])
    assert sorted(fake_stripe.live_subscriptions(None)) == sorted([tier, fan_plus])

    done = await _delete(maker, "maker")
    assert done.status == 200, done.text
    jobs = await _cancel_jobs(pool)
    assert sorted(j["payload"]["subscription"] for j in jobs) == sorted([tier, fan_plus])
    assert {j["payload"]["account"] for j in jobs} == {None}
    assert await pool.fetchval("SELECT count(*) FROM creator_subscriptions") == 0
    assert await pool.fetchval("SELECT count(*) FROM fan_plus_subscriptions") == 0

    assert await run_jobs(services) == 2
    await fake_stripe.settle()
    assert fake_stripe.live_subscriptions(None) == []
    # Run again (a job runs at least once): Stripe is not asked to cancel anything more.
    deletes = [r for r in fake_stripe.requests if r[0] == "DELETE"]
    await pool.execute(
        "UPDATE jobs SET state = 'queued', run_at = now(), finished_at = NULL WHERE kind = 'commerce.cancel_at_stripe'"
    )
    assert await run_jobs(services) == 2
    assert [r for r in fake_stripe.requests if r[0] == "DELETE"] == deletes
    # The cancellations' events find no row: answered, nothing retried.
    assert all(status == 200 for _, _, status in fake_stripe.deliveries)


async def test_an_abandoned_checkout_of_a_tier_is_expired_when_the_creator_leaves(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool, services: Services
) -> None:
    session = session_of(onward(await maker.submit("/settings/billing", "/settings/billing/tier", {"tier": "basic"})))
    assert (await _delete(maker, "maker")).status == 200
    (job,) = await _cancel_jobs(pool)
    assert job["payload"] == {"account": None, "subscription": None, "checkout_session": session}
    await run_jobs(services)
    assert fake_stripe.objects[session]["status"] == "expired"
    assert fake_stripe.live_subscriptions(None) == []


async def test_a_user_without_subscriptions_queues_nothing(alice: Browser, pool: asyncpg.Pool) -> None:
    assert (await _delete(alice, "alice")).status == 200
    assert await _cancel_jobs(pool) == []


async def test_a_platform_subscription_paid_for_a_user_already_gone_is_cancelled(
    maker: Browser, fake_stripe: FakeStripe, pool: asyncpg.Pool, services: Services
) -> None:
    """The backstop: the user's row went without the deletion's hooks (an operator's SQL, or a checkout paid in
    another tab while the deletion committed); the subscription's events name a row that is gone."""
    session = session_of(onward(await maker.submit("/fan-plus", "/fan-plus/subscribe", {})))
    await pool.execute("DELETE FROM users WHERE username = 'maker'")
    fake_stripe.pay(session)
    await fake_stripe.settle()
    made = str(fake_stripe.objects[session]["subscription"])
    outcomes = {r["outcome"] for r in await pool.fetch("SELECT outcome FROM subscription_events")}
    assert "fan-plus-orphan-canceled" in outcomes
    (job,) = await _cancel_jobs(pool)
    assert job["payload"] == {"account": None, "subscription": made, "checkout_session": None}
    await run_jobs(services)
    assert fake_stripe.live_subscriptions(None) == []
