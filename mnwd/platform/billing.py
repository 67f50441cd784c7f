"""Billing of the platform on its own Stripe account: creators' tiers (``creator_subscriptions``) and Fan+, the
visitors' supporter subscription (``fan_plus_subscriptions``). Both are Stripe subscriptions sold through
Checkout with ``account=None`` (the platform's account, never a connected one).

- ``tier_plans(services)`` → the `Plan` of each tier sold (``MNWD_PLATFORM_TIER_PRICES``), with its limits.
- ``creator_billing(pool, user_id)`` / ``fan_plus_of(pool, user_id)`` → the subscription's row as `Billing`.
- ``choose_tier(services, viewer, tier)`` → where the browser goes next. Creators only (`Forbidden`). Without
  a live subscription: a Checkout Session for the tier (its row made or reused ``incomplete`` first, found
  again by the session's events); with an ``active`` one: the subscription's item is switched to the new
  tier's Price at Stripe (prorated) and the row brought to Stripe's state at once (`sync`); ``past_due``:
  `Conflict` (settle the payment in the billing portal first).
- ``subscribe_fan_plus(services, viewer)`` → the Checkout page; `Conflict` while Fan+ is live.
- ``is_fan_plus(pool, user_id)`` → whether the user is a Fan+ supporter now (``active`` or ``past_due``, as the
  supporters' list counts), for the badge on their profile (`fan_plus_badge_global`).
- ``portal_url(services, viewer, kind)`` → the Stripe billing portal (cancel, change the card).
- ``handle_event(kind)`` → the handler commerce's webhook calls (`mnwd.commerce.PLATFORM_SUBSCRIPTIONS`).
- ``cancel_on_account_deletion(services)`` → the platform's `mnwd.accounts.DELETION_HOOKS` hook: a deleted
  user's creator tier and Fan+ (live, or a checkout still open) are cancelled at Stripe by commerce's durable
  job (`mnwd.commerce.enqueue_cancellation`), queued in the deletion's transaction.
- ``enforce_grace(services)`` (periodic) → creators past due for longer than ``MNWD_PLATFORM_BILLING_GRACE_DAYS``
  fall back to basic limits (``grace_enforced_at``) and are mailed so, through the outbound queue in the
  same transaction (keyed by the row and the failure: never twice).

Prices are made lazily on the platform account on first use and remembered in ``platform_prices`` (plan,
amount, interval); the tier of a subscription is the plan of its item's Price, so an upgrade made anywhere
(our page, the Stripe Dashboard) is read the same way.

Races. Events arrive late, twice and out of order: an event only says which subscription changed; its row is
locked (``FOR UPDATE``) and the subscription fetched from Stripe again under that lock, so the last fetch
wins. ``users.creator_tier`` is written in the same transaction from the row's state: ``active`` → its tier;
``past_due`` → its tier until the grace period ends; anything else → ``basic``. Two checkouts paid at once
(two tabs) make two subscriptions for one row: the second to arrive is cancelled at Stripe
(``…-duplicate-canceled``). An event of an older, ended subscription of the row changes nothing
(``…-stale``). Two prices made at once for one plan: the first remembered wins, the other stays unused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from mnwd.accounts import Viewer
from mnwd.commerce import (
    STATUS_FROM_STRIPE,
    PlatformSubscriptionEvent,
    StripeGateway,
    enqueue_cancellation,
    require_gateway,
)
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.platform import queries
from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services
from mnwd.tiers import TIER_LIMITS, TIERS, TierLimits, human_size

__all__ = [
    "BILLING_PAGE",
    "CREATOR_TIER",
    "FAN_PLUS",
    "FAN_PLUS_PAGE",
    "Billing",
    "Plan",
    "cancel_on_account_deletion",
    "choose_tier",
    "creator_billing",
    "enforce_grace",
    "fan_plus_of",
    "fan_plus_price_cents",
    "handle_event",
    "is_fan_plus",
    "portal_url",
    "subscribe_fan_plus",
    "supporters",
    "sync",
    "tier_of",
    "tier_plans",
]

CREATOR_TIER = "creator_tier"
FAN_PLUS = "fan_plus"
BILLING_PAGE = "/settings/billing"
FAN_PLUS_PAGE = "/fan-plus"
PAGES = {CREATOR_TIER: BILLING_PAGE, FAN_PLUS: FAN_PLUS_PAGE}
LIVE = ("active", "past_due")
INTERVAL = "month"
TIER_LABELS = {"basic": "Basic", "small_files": "Small files", "big_files": "Big files", "everything": "Everything"}
PRODUCT_NAMES = {
    "basic": "mnwd creator: Basic",
    "small_files": "mnwd creator: Small Files",
    "big_files": "mnwd creator: Big Files",
    "everything": "mnwd creator: Everything",
    "fan_plus": "mnwd Fan+",
}


@dataclass(frozen=True)
class Plan:
    tier: str
    amount_cents: int
    limits: TierLimits

    @property
    def label(self) -> str:
        return TIER_LABELS[self.tier]

    @property
    def price(self) -> str:
        return f"{self.amount_cents / 100:.2f}"

    @property
    def sizes(self) -> dict[str, str]:
        limits = self.limits
        return {
            "largest_file": human_size(limits.largest_file_bytes),
            "storage": human_size(limits.storage_bytes),
            "ota_storage": human_size(limits.ota_storage_bytes),
        }


@dataclass(frozen=True)
class Billing:
    """One user's subscription of a kind, as their page shows it (``None`` fields: never subscribed)."""

    status: str | None
    tier: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    has_customer: bool
    past_due_since: datetime | None = None
    grace_ends_at: datetime | None = None
    grace_enforced_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE


def _settings(services: Services) -> PlatformSettings:
    return services.config.section(PlatformSettings)


def fan_plus_price_cents(services: Services) -> int:
    return _settings(services).fan_plus_price_cents


def tier_plans(services: Services) -> list[Plan]:
    return [Plan(tier, cents, TIER_LIMITS[tier]) for tier, cents in _settings(services).tier_prices]


def _billing(row: asyncpg.Record | None, grace: timedelta | None = None) -> Billing:
    if row is None:
        return Billing(None, None, None, False, False)
    creator = grace is not None
    since = row["past_due_since"] if creator else None
    return Billing(
        status=row["status"],
        tier=row["tier"] if creator else None,
        current_period_end=row["current_period_end"],
        cancel_at_period_end=row["cancel_at_period_end"],
        has_customer=bool(row["stripe_customer_id"]),
        past_due_since=since,
        grace_ends_at=since + grace if since is not None and grace is not None else None,
        grace_enforced_at=row["grace_enforced_at"] if creator else None,
    )


async def creator_billing(services: Services, user_id: uuid.UUID) -> Billing:
    row = await queries.get_platform_subscription(services.pool, CREATOR_TIER, user_id)
    return _billing(row, timedelta(days=_settings(services).billing_grace_days))


async def tier_of(pool: asyncpg.Pool, user_id: uuid.UUID) -> tuple[str, str, datetime | None]:
    """``(own tier, the tier the limits come from, grandfathered until)``."""
    row = await queries.get_tier_of(pool, user_id)
    if row is None:
        raise NotFound("There is no such user.")
    return str(row["tier"]), str(row["effective_tier"]), row["grandfathered_until"]


async def fan_plus_of(pool: asyncpg.Pool, user_id: uuid.UUID) -> Billing:
    return _billing(await queries.get_platform_subscription(pool, FAN_PLUS, user_id))


async def is_fan_plus(pool: asyncpg.Pool, user_id: uuid.UUID) -> bool:
    return await queries.is_fan_plus_supporter(pool, user_id)


async def supporters(pool: asyncpg.Pool, limit: int = 500) -> list[asyncpg.Record]:
    return await queries.list_fan_plus_supporters(pool, limit)


async def _price(services: Services, gateway: StripeGateway, plan: str, amount_cents: int) -> str:
    found = await queries.get_platform_price(services.pool, plan, amount_cents, INTERVAL)
    if found is not None:
        return found
    product, price = await gateway.create_recurring_price(
        None, name=PRODUCT_NAMES[plan], amount_cents=amount_cents, currency="usd", interval=INTERVAL
    )
    await queries.insert_platform_price(services.pool, price, product, plan, amount_cents, INTERVAL)
    remembered = await queries.get_platform_price(services.pool, plan, amount_cents, INTERVAL)
    assert remembered is not None
    return remembered


async def _checkout(services: Services, viewer: Viewer, kind: str, plan: str, amount_cents: int) -> str:
    gateway = require_gateway(services)
    price = await _price(services, gateway, plan, amount_cents)
    pool = services.pool
    row_id = await queries.start_platform_subscription(
        pool, kind, viewer.user_id, plan if kind == CREATOR_TIER else None
    )
    if row_id is None:
        raise Conflict("You have a subscription already: manage it on this page.")
    row = await queries.get_platform_subscription(pool, kind, viewer.user_id)
    assert row is not None
    base = services.config.base_url.rstrip("/")
    metadata = {"mnwd_kind": kind, "mnwd_row_id": str(row_id), "mnwd_user_id": str(viewer.user_id)}
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price, "quantity": 1}],
        "client_reference_id": str(row_id),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": f"{base}{PAGES[kind]}?checkout=done",
        "cancel_url": f"{base}{PAGES[kind]}",
    }
    if row["stripe_customer_id"]:
        params["customer"] = row["stripe_customer_id"]
    else:
        params["customer_email"] = viewer.email
    session = await gateway.create_checkout_session(None, params)
    await queries.set_platform_checkout_session(pool, kind, row_id, str(session["id"]))
    return str(session["url"])


async def choose_tier(services: Services, viewer: Viewer, tier: str) -> str:
    if not viewer.can_create_projects:
        raise Forbidden("Only creators choose a creator tier.")
    plans = {p.tier: p for p in tier_plans(services)}
    if tier not in plans:
        raise ValidationFailed(
            "There is no such tier for sale.", errors=[{"field": "tier", "message": "Pick one of the tiers."}]
        )
    row = await queries.get_platform_subscription(services.pool, CREATOR_TIER, viewer.user_id)
    if row is None or row["status"] not in LIVE or not row["stripe_subscription_id"]:
        return await _checkout(services, viewer, CREATOR_TIER, tier, plans[tier].amount_cents)
    if row["status"] == "past_due":
        raise Conflict("Your last payment failed: settle it in the billing portal before changing tiers.")
    if row["tier"] == tier and not row["cancel_at_period_end"]:
        raise Conflict(f"You are on the {tier} tier already.")
    gateway = require_gateway(services)
    price = await _price(services, gateway, tier, plans[tier].amount_cents)
    current = await gateway.retrieve_subscription(None, row["stripe_subscription_id"])
    item = current["items"]["data"][0]["id"]
    await gateway.update_subscription(
        None,
        row["stripe_subscription_id"],
        {
            "items": [{"id": item, "price": price}],
            "proration_behavior": "create_prorations",
            "cancel_at_period_end": False,
        },
    )
    await sync(services, CREATOR_TIER, row["id"])
    return f"{BILLING_PAGE}?changed={tier}"


async def subscribe_fan_plus(services: Services, viewer: Viewer) -> str:
    return await _checkout(services, viewer, FAN_PLUS, FAN_PLUS, _settings(services).fan_plus_price_cents)


async def portal_url(services: Services, viewer: Viewer, kind: str) -> str:
    row = await queries.get_platform_subscription(services.pool, kind, viewer.user_id)
    if row is None or not row["stripe_customer_id"]:
        raise NotFound("You have no subscription to manage.")
    gateway = require_gateway(services)
    base = services.config.base_url.rstrip("/")
    return await gateway.portal_url(None, customer=row["stripe_customer_id"], return_url=f"{base}{PAGES[kind]}")


async def sync(services: Services, kind: str, row_id: uuid.UUID) -> str | None:
    """Bring one row to Stripe's state now (after a change we made), as an event would."""
    gateway = require_gateway(services)
    event = PlatformSubscriptionEvent("mnwd.sync", None, None, {"mnwd_kind": kind, "mnwd_row_id": str(row_id)}, None)

    async def body(tx: Tx) -> str | None:
        return await _apply(tx, gateway, kind, event)

    return await run_tx(services.pool, f"platform.billing.sync_{kind}", body, metrics=services.metrics)


def _uuid(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def effective_tier(row: asyncpg.Record) -> str:
    """The tier a creator's limits come from, by their subscription's row."""
    if row["status"] == "active" or (row["status"] == "past_due" and row["grace_enforced_at"] is None):
        return str(row["tier"])
    return "basic"


async def _apply(tx: Tx, gateway: StripeGateway, kind: str, event: PlatformSubscriptionEvent) -> str | None:
    conn = tx.conn
    label = kind.replace("_", "-")
    mine = event.metadata.get("mnwd_kind") == kind
    row = await queries.lock_platform_subscription(
        conn,
        kind,
        row_id=_uuid(event.metadata.get("mnwd_row_id")) if mine else None,
        stripe_subscription_id=event.stripe_subscription_id,
        session_id=event.session_id,
    )
    if row is None:
        if not mine:
            return None
        if _uuid(event.metadata.get("mnwd_row_id")) is not None and event.stripe_subscription_id:
            # Our metadata names a row made before the checkout, and it is gone: its user was deleted (a checkout
            # paid in another tab meanwhile). Nothing may bill for them.
            await enqueue_cancellation(
                tx, account=None, subscription=event.stripe_subscription_id, checkout_session=None
            )
            return f"{label}-orphan-canceled"
        return f"{label}-unknown-subscription"
    if event.type == "checkout.session.expired":
        return f"{label}-checkout-expired"
    stripe_id = event.stripe_subscription_id or row["stripe_subscription_id"]
    if stripe_id is None:
        return f"{label}-no-subscription-yet"
    if row["stripe_subscription_id"] not in (None, stripe_id) and row["status"] in LIVE:
        other = await gateway.retrieve_subscription(None, stripe_id)
        if STATUS_FROM_STRIPE.get(str(other.get("status"))) in LIVE:
            # A second checkout of one row was paid (two tabs): the first subscription stays.
            await gateway.cancel_subscription(None, stripe_id)
            return f"{label}-duplicate-canceled"
        return f"{label}-stale"
    current = await gateway.retrieve_subscription(None, stripe_id)
    items = (current.get("items") or {}).get("data") or [{}]
    price = items[0].get("price") or {}
    plan = await queries.get_plan_of_price(conn, str(price.get("id"))) if price.get("id") else None
    state: dict[str, Any] = {
        "status": STATUS_FROM_STRIPE.get(str(current.get("status")), "past_due"),
        "stripe_subscription_id": stripe_id,
        "stripe_customer_id": current.get("customer"),
        "current_period_end": _moment(items[0].get("current_period_end", current.get("current_period_end"))),
        "cancel_at_period_end": bool(current.get("cancel_at_period_end")),
        "tier": plan if plan in TIERS else (row["tier"] if kind == CREATOR_TIER else None),
    }
    updated = await queries.update_platform_subscription(conn, kind, row["id"], state)
    if kind == CREATOR_TIER:
        await queries.set_creator_tier(conn, row["user_id"], effective_tier(updated))
    return f"{label}-{updated['status']}"


def handle_event(kind: str) -> Callable[[Tx, StripeGateway, PlatformSubscriptionEvent], Awaitable[str | None]]:
    """The handler of ``kind`` for `mnwd.commerce.PLATFORM_SUBSCRIPTIONS`."""

    async def handle(tx: Tx, gateway: StripeGateway, event: PlatformSubscriptionEvent) -> str | None:
        return await _apply(tx, gateway, kind, event)

    return handle


def cancel_on_account_deletion(services: Services) -> Callable[[Tx, uuid.UUID], Awaitable[None]]:
    async def hook(tx: Tx, user_id: uuid.UUID) -> None:
        for row in await queries.list_billing_subscriptions_of_user(tx.conn, user_id):
            await enqueue_cancellation(
                tx,
                account=None,
                subscription=row["stripe_subscription_id"],
                checkout_session=row["stripe_checkout_session_id"],
                wake=services.jobs.wake,
            )

    return hook


async def enforce_grace(services: Services) -> int:
    grace = _settings(services).billing_grace_days * 86400
    base = services.config.base_url.rstrip("/")

    async def body(tx: Tx) -> int:
        lapsed = await queries.enforce_billing_grace(tx.conn, grace)
        for row in lapsed:
            # Keyed by the failure it is about: a retried run, or a second daemon's, mails no one twice.
            key = f"platform.billing.grace:{row['id']}:{row['past_due_since'].isoformat()}"
            mail = Mail(
                to=row["email"],
                subject="Your creator tier is basic now: a payment is still due",
                text=(
                    f"Hello {row['username']},\n\nThe payment for your {TIER_LABELS.get(row['tier'], row['tier'])} "
                    "tier has failed since "
                    f"{row['past_due_since'].strftime('%Y-%m-%d')}, and the grace period is over: your limits are "
                    "basic's now. Nothing you stored is deleted; new uploads past basic's limits are refused.\n\n"
                    f"Update your card in the billing portal and the tier comes back:\n\n{base}{BILLING_PAGE}\n"
                ),
            )
            await enqueue_mail(tx.conn, mail, key=key[:200])
        if lapsed:
            tx.after_commit(services.jobs.wake)
        return len(lapsed)

    return await run_tx(services.pool, "platform.billing.grace", body, metrics=services.metrics)
