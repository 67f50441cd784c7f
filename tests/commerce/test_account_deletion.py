"""Deleting an account stops what it leaves billing at Stripe: a buyer's subscriptions to creators' tiers (on the
creators' connected accounts) and Checkout Sessions still open, a creator's buyers' pending subscriptions on the
creator's account; retried while Stripe fails; never cancelled twice."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from mnwd.commerce.cancellations import CANCEL_JOB, cancel_at_stripe, cancel_on_account_deletion
from mnwd.db.jobs import Job
from mnwd.db.tx import Tx, run_tx
from mnwd.mail import read_outbox
from tests.commerce.shop import Shop, make_tier, onward, session_of
from tests.support.browser import Browser, Page
from tests.support.outbound import run_jobs


async def _checkout(shop: Shop, tier: asyncpg.Record, browser: Browser | None = None) -> str:
    page = await (browser or shop.buyer).submit("/memberships/maker", f"/checkout/tiers/{tier['id']}", {})
    return session_of(onward(page))


async def _delete(browser: Browser, username: str) -> Page:
    page = await browser.get("/settings/delete")
    assert page.status == 200, page.text
    return await browser.post("/settings/delete", {"confirm_username": username, "csrf_token": page.csrf})


async def _cancel_jobs(shop: Shop) -> list[asyncpg.Record]:
    return list(await shop.pool.fetch("SELECT * FROM jobs WHERE kind = $1 ORDER BY created_at", CANCEL_JOB))


def _deletes(shop: Shop) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    return [r for r in shop.fake.requests if r[0] == "DELETE" and r[1].startswith("/v1/subscriptions/")]


async def test_a_buyers_deletion_cancels_their_subscription_and_expires_their_open_checkout(shop: Shop) -> None:
    patron = await make_tier(shop, "Patron")
    pending = await _checkout(shop, await make_tier(shop, "Gold", "9.00"))  # opened, never paid
    paid = await _checkout(shop, patron)
    shop.fake.pay(paid)
    await shop.fake.settle()
    subscription = str(shop.fake.objects[paid]["subscription"])
    assert shop.fake.live_subscriptions(shop.account) == [subscription]

    page = await shop.buyer.get("/settings/delete")
    assert page.has("Cancelled at Stripe, so nothing is charged again: 1 subscription you pay")
    done = await _delete(shop.buyer, "buyer")
    assert done.status == 200, done.text
    assert done.has("Your account is deleted")
    assert await shop.pool.fetchval("SELECT count(*) FROM subscriptions") == 0
    jobs = await _cancel_jobs(shop)
    assert {(j["payload"]["subscription"], j["payload"]["checkout_session"]) for j in jobs} == {
        (subscription, paid),
        (None, pending),
    }
    assert {j["payload"]["account"] for j in jobs} == {shop.account}

    assert await run_jobs(shop.services) == 2
    await shop.fake.settle()
    assert shop.fake.live_subscriptions(shop.account) == []
    assert shop.fake.objects[subscription]["status"] == "canceled"
    assert shop.fake.objects[pending]["status"] == "expired"
    assert {r["state"] for r in await _cancel_jobs(shop)} == {"done"}
    # The cancellation's own events find no row and change nothing (answered 200, not retried by Stripe).
    assert all(status == 200 for _, _, status in shop.fake.deliveries)


async def test_a_checkout_paid_after_the_deletion_is_cancelled_too(shop: Shop) -> None:
    """The buyer pays in another tab while the account is deleted: the session is no longer open when the job
    runs, so it cancels the subscription the payment made."""
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    assert (await _delete(shop.buyer, "buyer")).status == 200
    shop.fake.pay(session)
    await shop.fake.settle()
    made = str(shop.fake.objects[session]["subscription"])
    assert shop.fake.live_subscriptions(shop.account) == [made]
    await run_jobs(shop.services)
    assert shop.fake.live_subscriptions(shop.account) == []


async def test_a_stripe_failure_is_retried_until_the_subscription_is_cancelled(shop: Shop) -> None:
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    subscription = str(shop.fake.objects[session]["subscription"])
    assert (await _delete(shop.buyer, "buyer")).status == 200

    shop.fake.failures = {"DELETE /v1/subscriptions": 2}
    for attempt in (1, 2):
        assert await shop.services.jobs.run_due() == 1
        (job,) = await _cancel_jobs(shop)
        assert job["state"] == "queued"
        assert job["attempts"] == attempt
        assert "PaymentProviderError" in job["last_error"]
        assert shop.fake.live_subscriptions(shop.account) == [subscription]
        assert await shop.services.jobs.run_due() == 0  # backing off
        await shop.pool.execute("UPDATE jobs SET run_at = now() WHERE id = $1", job["id"])
    assert await shop.services.jobs.run_due() == 1
    (job,) = await _cancel_jobs(shop)
    assert job["state"] == "done"
    assert job["max_attempts"] >= 20
    assert shop.fake.live_subscriptions(shop.account) == []
    assert len(_deletes(shop)) == 3


async def test_running_the_job_again_or_twice_at_once_cancels_once(shop: Shop) -> None:
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    assert (await _delete(shop.buyer, "buyer")).status == 200
    (row,) = await _cancel_jobs(shop)
    job = Job(row["id"], row["kind"], dict(row["payload"]), 1, 30, row["idempotency_key"], row["created_at"])
    await asyncio.gather(cancel_at_stripe(shop.services, job), cancel_at_stripe(shop.services, job))
    await cancel_at_stripe(shop.services, job)
    await shop.fake.settle()
    assert shop.fake.live_subscriptions(shop.account) == []
    cancelled = [e for e in shop.fake.events if e["type"] == "customer.subscription.deleted"]
    assert len(cancelled) == 1
    # The queued job finds it cancelled already: done, without asking Stripe to cancel again.
    await shop.services.jobs.run_due()
    assert (await _cancel_jobs(shop))[0]["state"] == "done"
    assert len(_deletes(shop)) in (1, 2)  # only the two concurrent attempts (a second one is Stripe's 404)


async def test_two_deletions_at_once_queue_one_cancellation(shop: Shop) -> None:
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    page = await shop.buyer.get("/settings/delete")
    form = {"confirm_username": "buyer", "csrf_token": page.csrf}
    answers = await asyncio.gather(shop.buyer.post("/settings/delete", form), shop.buyer.post("/settings/delete", form))
    assert [a.status for a in answers] == [200, 200], [a.text[:300] for a in answers]
    assert len(await _cancel_jobs(shop)) == 1
    await run_jobs(shop.services)
    assert shop.fake.live_subscriptions(shop.account) == []
    assert len(_deletes(shop)) == 1


async def test_a_creators_deletion_expires_the_checkouts_open_on_their_account(shop: Shop) -> None:
    tier = await make_tier(shop, "Patron")
    pending = await _checkout(shop, tier)
    done = await _delete(shop.maker, "maker")
    assert done.status == 200, done.text
    (job,) = await _cancel_jobs(shop)
    assert job["payload"] == {"account": shop.account, "subscription": None, "checkout_session": pending}
    await run_jobs(shop.services)
    assert shop.fake.objects[pending]["status"] == "expired"
    # Paying the old page now is refused at Stripe: nothing will ever bill the buyer for the creator that left.
    assert shop.fake.live_subscriptions(shop.account) == []


async def test_a_creator_with_live_subscribers_is_still_refused(shop: Shop) -> None:
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    refused = await _delete(shop.maker, "maker")
    assert refused.status == 409
    assert refused.has("1 people have an active subscription to your projects.")
    assert await _cancel_jobs(shop) == []
    assert len(shop.fake.live_subscriptions(shop.account)) == 1


async def test_when_a_creator_is_closed_with_live_subscribers_each_is_cancelled_and_told(shop: Shop) -> None:
    """What the hook does for a creator whose buyers' subscriptions are live (an operator closing the account:
    the owner's own deletion page refuses it): each is cancelled on the creator's account, and each buyer is
    mailed once."""
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    maker_id = uuid.UUID(str(shop.maker_api.user_id))
    hook = cancel_on_account_deletion(shop.services)

    async def body(tx: Tx) -> None:
        await hook(tx, maker_id)
        await hook(tx, maker_id)  # twice: keyed, so queued once
        await tx.conn.execute("DELETE FROM users WHERE id = $1", maker_id)

    await run_tx(shop.pool, "test.close_account", body)
    assert len(await _cancel_jobs(shop)) == 1
    await run_jobs(shop.services)
    assert shop.fake.live_subscriptions(shop.account) == []
    mails = [m for m in read_outbox(shop.services.config.data_dir / "outbox") if "has ended" in m["Subject"]]
    assert len(mails) == 1
    assert mails[0]["To"] == "buyer@example.org"
    assert "you will not be charged for it again" in mails[0].get_content()


async def test_a_subscription_whose_row_went_with_its_project_is_cancelled_at_its_next_event(shop: Shop) -> None:
    """The backstop: a project's row goes without any deletion hook seeing it (here by SQL; the store's own
    deletion cancels at once, tests/commerce/test_project_deletion.py). The subscription's next event names a
    row of ours that is gone: it is cancelled, once, and bills nothing more."""
    session = await _checkout(shop, await make_tier(shop, "Patron"))
    shop.fake.pay(session)
    await shop.fake.settle()
    subscription = str(shop.fake.objects[session]["subscription"])
    await shop.pool.execute("DELETE FROM projects WHERE id = $1", uuid.UUID(shop.project_id))
    assert await shop.pool.fetchval("SELECT count(*) FROM subscriptions") == 0
    assert await _cancel_jobs(shop) == []

    shop.fake.renew(subscription)
    await shop.fake.settle()
    outcomes = {r["outcome"] for r in await shop.pool.fetch("SELECT outcome FROM subscription_events")}
    assert "orphan-canceled" in outcomes
    (job,) = await _cancel_jobs(shop)
    assert job["payload"] == {"account": shop.account, "subscription": subscription, "checkout_session": None}
    await run_jobs(shop.services)
    await shop.fake.settle()
    assert shop.fake.live_subscriptions(shop.account) == []
    assert len(await _cancel_jobs(shop)) == 1  # the cancellation's own event queues nothing more
