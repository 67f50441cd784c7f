"""Subscriptions: creators' tiers (``subscription_tiers``) and buyers' subscriptions to them.

`create_tier`: a tier is saved only once its Product and recurring Price exist on the creator's connected
account (subscriptions with direct charges need them there); Stripe is called first, so a refusal leaves no row.

`apply_subscription_event`: every ``customer.subscription.*``, ``invoice.paid`` and subscription-mode
``checkout.session.completed`` event ends here. Events arrive late, twice and out of order (``updated`` before
``created``), and a snapshot in an old event must never overwrite newer state: so the event only says *which*
subscription changed; its state is fetched from Stripe again while the row is locked (``SELECT … FOR
UPDATE``), and a later fetch always wins because fetches of one subscription run one after the other.
``subscription_events`` (the ledger) keeps each event with the subscription it concerned. An event whose
metadata names a row of ours that is gone (its account or project deleted) queues the subscription's
cancellation at Stripe (``orphan-canceled``, `mnwd.commerce.cancellations`).

`portal_url`: the Stripe billing portal on the creator's account for the buyer's customer there, where the
buyer cancels; the cancellation comes back as ``customer.subscription.updated|deleted``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from mnwd.commerce import queries
from mnwd.commerce.cancellations import enqueue_cancellation
from mnwd.commerce.gateway import StripeGateway, require_gateway
from mnwd.commerce.problems import SellerNotConnected
from mnwd.db.tx import Tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import Services

__all__ = ["STATUS_FROM_STRIPE", "apply_subscription_event", "create_tier", "portal_url", "state_from_stripe"]

STATUS_FROM_STRIPE = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "past_due",
    "canceled": "canceled",
    "incomplete": "incomplete",
    "incomplete_expired": "expired",
}


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def state_from_stripe(subscription: dict[str, Any], event_at: datetime | None) -> dict[str, Any]:
    items = (subscription.get("items") or {}).get("data") or [{}]
    first = items[0]
    start = first.get("current_period_start", subscription.get("current_period_start"))
    end = first.get("current_period_end", subscription.get("current_period_end"))
    return {
        "status": STATUS_FROM_STRIPE.get(str(subscription.get("status")), "past_due"),
        "stripe_subscription_id": subscription.get("id"),
        "stripe_customer_id": subscription.get("customer"),
        "current_period_start": _moment(start),
        "current_period_end": _moment(end),
        "trial_ends_at": _moment(subscription.get("trial_end")),
        "cancel_at_period_end": bool(subscription.get("cancel_at_period_end")),
        "canceled_at": _moment(subscription.get("canceled_at")),
        "event_at": event_at,
    }


def _uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def apply_subscription_event(
    tx: Tx,
    gateway: StripeGateway,
    *,
    account: str | None,
    stripe_subscription_id: str | None,
    our_id: Any,
    session_id: str | None,
    event_at: datetime | None,
) -> tuple[uuid.UUID | None, str]:
    """Bring the subscription's row to Stripe's current state: ``(row id, outcome)``."""
    row = await queries.get_subscription_for_event(
        tx.conn, subscription_id=_uuid(our_id), stripe_subscription_id=stripe_subscription_id, session_id=session_id
    )
    if row is None:
        if _uuid(our_id) is not None and stripe_subscription_id:
            # Our metadata names a row made before the checkout, and it is gone: its account or project was
            # deleted. Nothing may bill for it (`mnwd.commerce.cancellations`).
            await enqueue_cancellation(tx, account=account, subscription=stripe_subscription_id, checkout_session=None)
            return None, "orphan-canceled"
        return None, "unknown-subscription"
    stripe_id = stripe_subscription_id or row["stripe_subscription_id"]
    if stripe_id is None:
        return row["id"], "no-subscription-yet"
    current = await gateway.retrieve_subscription(account or row["stripe_account_id"], stripe_id)
    state = state_from_stripe(current, event_at)
    try:
        async with tx.conn.transaction():
            updated = await queries.update_subscription_state(tx.conn, row["id"], state)
    except asyncpg.UniqueViolationError:
        # A second active subscription to one project (two checkouts at once): keep the first active.
        state["status"] = "past_due"
        updated = await queries.update_subscription_state(tx.conn, row["id"], state)
        return updated["id"], "second-active-subscription"
    return updated["id"], f"subscription-{updated['status']}"


async def create_tier(services: Services, seller_id: uuid.UUID, values: dict[str, Any]) -> asyncpg.Record:
    pool = services.pool
    errors: list[dict[str, str]] = []
    projects = {p["id"]: p for p in await queries.list_seller_projects(pool, seller_id)}
    try:
        project_id = uuid.UUID(str(values.get("project_id") or ""))
    except ValueError:
        project_id = None
    if project_id not in projects:
        errors.append({"field": "project_id", "message": "Pick one of your projects."})
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 100:
        errors.append({"field": "name", "message": "Give the tier a name (at most 100 characters)."})
    try:
        price = int(str(values.get("price_cents") or ""))
    except ValueError:
        price = -1
    if not 50 <= price <= 1_000_000:
        errors.append({"field": "price_cents", "message": "A price from 50 to 1000000 cents."})
    interval = str(values.get("billing_interval") or "month")
    if interval not in {"month", "year"}:
        errors.append({"field": "billing_interval", "message": "Monthly or yearly."})
    description = str(values.get("description") or "").strip()[:2000] or None
    if not errors and project_id is not None and await queries.count_tier_name(pool, project_id, name):
        errors.append({"field": "name", "message": "This project has a tier of that name."})
    if errors:
        raise ValidationFailed("The tier has errors.", errors=errors)
    assert project_id is not None
    gateway = require_gateway(services)
    seller = await queries.get_seller(pool, seller_id)
    if seller is None or not seller["stripe_account_id"] or not seller["stripe_onboarding_complete"]:
        raise SellerNotConnected()
    product_id, price_id = await gateway.create_recurring_price(
        seller["stripe_account_id"],
        name=f"{projects[project_id]['title']}: {name}",
        amount_cents=price,
        currency="usd",
        interval=interval,
    )
    return await queries.insert_tier(
        pool,
        project_id,
        {
            "name": name,
            "description": description,
            "price_cents": price,
            "currency": "usd",
            "billing_interval": interval,
            "stripe_product_id": product_id,
            "stripe_price_id": price_id,
        },
    )


async def portal_url(services: Services, subscriber_id: uuid.UUID, subscription_id: uuid.UUID) -> str:
    row = await queries.get_owned_subscription(services.pool, subscription_id, subscriber_id)
    if row is None or not row["stripe_customer_id"]:
        raise NotFound("There is no such subscription.")
    gateway = require_gateway(services)
    return await gateway.portal_url(
        row["stripe_account_id"],
        customer=row["stripe_customer_id"],
        return_url=f"{services.config.base_url.rstrip('/')}/library",
    )
