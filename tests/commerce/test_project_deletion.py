"""Deleting a project (API or dashboard form) or an item stops at Stripe what it leaves billing, in the deletion's
own transaction: the project's members' subscriptions are cancelled by the job ``commerce.cancel_at_stripe``,
the Checkout Sessions still open for its tiers and items are expired, and each live member is mailed once."""

from __future__ import annotations

import asyncio

import asyncpg

from mnwd.commerce.cancellations import CANCEL_JOB
from mnwd.mail import read_outbox
from tests.commerce.shop import Shop, make_tier, onward, session_of
from tests.support.outbound import run_jobs


async def _subscribe(shop: Shop, tier: asyncpg.Record, *, pay: bool = True) -> str:
    """The buyer's Checkout Session for the tier; paid (and its subscription live at Stripe) unless ``pay=False``."""
    page = await shop.buyer.submit("/memberships/maker", f"/checkout/tiers/{tier['id']}", {})
    session = session_of(onward(page))
    if pay:
        shop.fake.pay(session)
        await shop.fake.settle()
    return session


async def _cancel_jobs(shop: Shop) -> list[asyncpg.Record]:
    return list(await shop.pool.fetch("SELECT * FROM jobs WHERE kind = $1 ORDER BY created_at", CANCEL_JOB))


def _ended_mails(shop: Shop) -> list[object]:
    return [m for m in read_outbox(shop.services.config.data_dir / "outbox") if "has ended" in m["Subject"]]


async def test_deleting_a_project_through_the_api_cancels_its_members_at_stripe_and_tells_them(shop: Shop) -> None:
    pending = await _subscribe(shop, await make_tier(shop, "Gold", "9.00"), pay=False)  # opened, never paid
    paid = await _subscribe(shop, await make_tier(shop, "Patron"))
    subscription = str(shop.fake.objects[paid]["subscription"])
    assert shop.fake.live_subscriptions(shop.account) == [subscription]

    status, _ = await shop.maker_api.call("DELETE", f"/api/v1/projects/{shop.project_id}")
    assert status in (200, 204)
    assert await shop.pool.fetchval("SELECT count(*) FROM subscriptions") == 0
    jobs = await _cancel_jobs(shop)
    assert {(j["payload"]["subscription"], j["payload"]["checkout_session"]) for j in jobs} == {
        (subscription, paid),
        (None, pending),
    }
    assert {j["payload"]["account"] for j in jobs} == {shop.account}

    await run_jobs(shop.services)
    await shop.fake.settle()
    assert shop.fake.live_subscriptions(shop.account) == []
    assert shop.fake.objects[subscription]["status"] == "canceled"
    assert shop.fake.objects[pending]["status"] == "expired"
    assert {r["state"] for r in await _cancel_jobs(shop)} == {"done"}
    # The cancellation's own events find no row: answered 200, and nothing more is queued.
    assert all(status == 200 for _, _, status in shop.fake.deliveries)
    assert len(await _cancel_jobs(shop)) == 2

    (mail,) = _ended_mails(shop)  # the live member only; the unpaid checkout was never a membership
    assert mail["To"] == "buyer@example.org"  # type: ignore[index]
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "maker deleted the project Shop" in body
    assert "you will not be charged for it again" in body


async def test_deleting_a_project_from_the_dashboard_does_the_same(shop: Shop) -> None:
    paid = await _subscribe(shop, await make_tier(shop, "Patron"))
    subscription = str(shop.fake.objects[paid]["subscription"])
    page = await shop.maker.get(f"/dashboard/store/projects/{shop.project_id}/delete")
    assert page.status == 200, page.text
    assert page.has("cancelled at Stripe and each member is told by mail")
    done = await shop.maker.post(f"/dashboard/store/projects/{shop.project_id}/delete", {"csrf_token": page.csrf})
    assert done.status in (200, 303), done.text
    assert await shop.pool.fetchval("SELECT count(*) FROM projects WHERE id = $1", shop.project_id) == 0
    (job,) = await _cancel_jobs(shop)
    assert job["payload"] == {"account": shop.account, "subscription": subscription, "checkout_session": paid}
    await run_jobs(shop.services)
    assert shop.fake.live_subscriptions(shop.account) == []
    assert len(_ended_mails(shop)) == 1


async def test_a_refused_deletion_queues_nothing(shop: Shop) -> None:
    """An unknown project id: 404, the project and its member stay, no job."""
    await _subscribe(shop, await make_tier(shop, "Patron"))
    status, doc = await shop.maker_api.call("DELETE", "/api/v1/projects/00000000-0000-0000-0000-000000000000")
    assert status == 404, doc
    assert await _cancel_jobs(shop) == []
    assert len(shop.fake.live_subscriptions(shop.account)) == 1


async def test_two_deletions_at_once_cancel_once_and_mail_once(shop: Shop) -> None:
    await _subscribe(shop, await make_tier(shop, "Patron"))
    path = f"/api/v1/projects/{shop.project_id}"
    answers = await asyncio.gather(shop.maker_api.call("DELETE", path), shop.maker_api.call("DELETE", path))
    assert sorted(status for status, _ in answers) in ([204, 404], [200, 404]), answers
    assert len(await _cancel_jobs(shop)) == 1
    await run_jobs(shop.services)
    assert shop.fake.live_subscriptions(shop.account) == []
    assert len(_ended_mails(shop)) == 1
    cancelled = [e for e in shop.fake.events if e["type"] == "customer.subscription.deleted"]
    assert len(cancelled) == 1


async def test_deleting_an_item_expires_its_open_checkouts(shop: Shop) -> None:
    """A buyer left the Checkout page open; the creator deletes the item: the page can no longer be paid."""
    item = await shop.item("tool", price_cents=1200)
    session = session_of(await shop.start_buying(item))
    keep = await shop.item("other", price_cents=800)
    other_session = session_of(await shop.start_buying(keep))

    status, _ = await shop.maker_api.call("DELETE", f"/api/v1/items/{item['id']}")
    assert status in (200, 204)
    (job,) = await _cancel_jobs(shop)
    assert job["payload"] == {"account": shop.account, "subscription": None, "checkout_session": session}
    await run_jobs(shop.services)
    assert shop.fake.objects[session]["status"] == "expired"
    assert shop.fake.objects[other_session]["status"] == "open"  # another item's checkout is left alone


async def test_deleting_an_item_from_the_dashboard_expires_its_open_checkouts(shop: Shop) -> None:
    item = await shop.item("tool", price_cents=1200)
    session = session_of(await shop.start_buying(item))
    page = await shop.maker.get(f"/dashboard/store/items/{item['id']}/delete")
    assert page.status == 200, page.text
    done = await shop.maker.post(f"/dashboard/store/items/{item['id']}/delete", {"csrf_token": page.csrf})
    assert done.status in (200, 303), done.text
    await run_jobs(shop.services)
    assert shop.fake.objects[session]["status"] == "expired"


async def _delete_project_expiring(shop: Shop, session: str) -> None:
    """Delete the shop's project through the API: its one job expires ``session`` at Stripe."""
    status, _ = await shop.maker_api.call("DELETE", f"/api/v1/projects/{shop.project_id}")
    assert status in (200, 204)
    (job,) = await _cancel_jobs(shop)
    assert job["payload"]["checkout_session"] == session
    await run_jobs(shop.services)
    assert shop.fake.objects[session]["status"] == "expired"


async def test_a_projects_deletion_expires_its_items_open_checkouts_and_keeps_receipts(shop: Shop) -> None:
    item = await shop.item("tool", price_cents=1200)
    bought = await shop.buy(item)
    again = await shop.item("next", price_cents=900)
    session = session_of(await shop.start_buying(again))

    await _delete_project_expiring(shop, session)
    receipt = await shop.transaction(bought)
    assert receipt["status"] == "completed"  # the purchase stays the buyer's receipt
    assert _ended_mails(shop) == []  # no membership ended


async def _bundle(
    shop: Shop, slug: str, parts: list[dict[str, object]], project_id: object = None
) -> dict[str, object]:
    if project_id is None:
        bundle = await shop.item(slug, None, type="bundle", price_cents=1500)
    else:
        bundle = await shop.maker_api.item(project_id, slug, type="bundle", price_cents=1500)
    status, doc = await shop.maker_api.call(
        "PUT", f"/api/v1/items/{bundle['id']}/bundle", {"item_ids": [part["id"] for part in parts]}
    )
    assert status == 200, doc
    return bundle


async def test_deleting_an_item_expires_the_open_checkouts_of_bundles_holding_it(shop: Shop) -> None:
    """A buyer left the Checkout page of a bundle open; the creator deletes one of its parts: the bundle would now
    grant less than its page showed, so that page can no longer be paid either. Other bundles and purchases stay."""
    part = await shop.item("part", price_cents=400)
    other = await shop.item("other", price_cents=500)
    box = await _bundle(shop, "box", [part, other])
    crate = await _bundle(shop, "crate", [other])
    box_session = session_of(await shop.start_buying(box))
    crate_session = session_of(await shop.start_buying(crate))
    part_session = session_of(await shop.start_buying(part))
    bought = await shop.buy(box)  # a second checkout of the box, paid: a receipt, left alone

    status, _ = await shop.maker_api.call("DELETE", f"/api/v1/items/{part['id']}")
    assert status in (200, 204)
    jobs = await _cancel_jobs(shop)
    assert {j["payload"]["checkout_session"] for j in jobs} == {box_session, part_session}
    assert {j["payload"]["account"] for j in jobs} == {shop.account}
    await run_jobs(shop.services)
    assert shop.fake.objects[box_session]["status"] == "expired"
    assert shop.fake.objects[part_session]["status"] == "expired"
    assert shop.fake.objects[crate_session]["status"] == "open"  # a bundle without the part is left alone
    assert (await shop.transaction(bought))["status"] == "completed"
    # The expired session's own event marks its purchase failed; nothing more is queued.
    await shop.fake.settle()
    assert len(await _cancel_jobs(shop)) == 2


async def test_deleting_a_project_expires_checkouts_of_bundles_in_other_projects_holding_its_items(
    shop: Shop,
) -> None:
    part = await shop.item("part", price_cents=400)
    elsewhere = await shop.maker_api.project("elsewhere")
    box = await _bundle(shop, "box", [part], elsewhere["id"])
    session = session_of(onward(await shop.buyer.submit("/@maker/elsewhere/box", f"/checkout/items/{box['id']}", {})))

    await _delete_project_expiring(shop, session)
    # The bundle itself stays (in its own project), empty now.
    assert await shop.pool.fetchval("SELECT count(*) FROM items WHERE id = $1", box["id"]) == 1


async def test_deleting_an_item_in_no_bundle_touches_no_bundles_checkout(shop: Shop) -> None:
    loose = await shop.item("loose", price_cents=300)
    part = await shop.item("part", price_cents=400)
    box = await _bundle(shop, "box", [part])
    session = session_of(await shop.start_buying(box))
    status, _ = await shop.maker_api.call("DELETE", f"/api/v1/items/{loose['id']}")
    assert status in (200, 204)
    assert await _cancel_jobs(shop) == []
    assert shop.fake.objects[session]["status"] == "open"
