"""Checkout: a buyer starts paying for an item or subscribing to a tier; the price is always ours.

`checkout_item(services, buyer, item_id, amount_cents=, promo_code=)`:
- the item must be on sale (public, in a public project of an active creator), not free, not the buyer's own,
  not already owned (`AlreadyPurchased`, 409);
- the amount is the item's price; ``amount_cents`` from the client is only for pay-what-you-want items
  (≥ ``pwyw_min_cents``, ≤ `MAX_AMOUNT_CENTS`), anything else is a 422; a promo code (`promos.check_promo`)
  may lower it; a total of 0 (free-access code, 100 % off) completes at once without Stripe;
- otherwise a ``pending`` transaction row is written, then a Checkout Session created on the creator's
  connected account (direct charge, ``price_data.unit_amount`` = our amount, no application fee), then its id
  saved on the row. If Stripe refuses, the row is marked ``failed`` and `PaymentProviderError` (502) raised.

`checkout_tier(services, buyer, tier_id, promo_code=)`: ``mode=subscription`` with the tier's Price (made on
the creator's account when the tier was saved); a ``subscriptions`` row is written ``incomplete`` first and
found again by the session's events; a free-trial code sets ``trial_period_days``; a discount code becomes a
coupon on the creator's account.

Answers `Checkout(transaction_id | subscription_id, url)`: the Stripe Checkout page, or our own status page
``/checkout/{id}`` when nothing is to be paid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.commerce import fulfilment, queries
from mnwd.commerce.gateway import require_gateway
from mnwd.commerce.problems import AlreadyPurchased, PaymentProviderError, PromoCodeInvalid, SellerNotConnected
from mnwd.commerce.promos import Promo, check_promo, discounted
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import BadRequest, NotFound, ValidationFailed
from mnwd.services import Services

__all__ = ["MAX_AMOUNT_CENTS", "MIN_CHARGE_CENTS", "Buyer", "Checkout", "checkout_item", "checkout_tier"]

MAX_AMOUNT_CENTS = 1_000_000
MIN_CHARGE_CENTS = 50  # Stripe's smallest charge in USD
NO_SUCH_ITEM = "There is no such item for sale."
NO_SUCH_TIER = "There is no such subscription tier."


@dataclass(frozen=True)
class Buyer:
    user_id: uuid.UUID
    email: str


@dataclass(frozen=True)
class Checkout:
    id: uuid.UUID
    url: str
    kind: str = "item"

    def as_json(self) -> dict[str, Any]:
        key = "transaction_id" if self.kind == "item" else "subscription_id"
        return {"checkout_url": self.url, key: self.id}


def _amount(item: Any, amount_cents: int | None) -> int:
    if not item["pwyw_enabled"]:
        if amount_cents is not None and amount_cents != item["price_cents"]:
            raise ValidationFailed(
                "The price is set by the creator.",
                errors=[{"field": "amount_cents", "message": "Only pay-what-you-want items take an amount."}],
            )
        return int(item["price_cents"])
    minimum = item["pwyw_min_cents"] or 0
    chosen = amount_cents if amount_cents is not None else max(minimum, item["price_cents"])
    if chosen < minimum or chosen > MAX_AMOUNT_CENTS:
        raise ValidationFailed(
            f"Pay at least {minimum / 100:.2f} {str(item['currency']).upper()}"
            f" and at most {MAX_AMOUNT_CENTS / 100:.2f}.",
            errors=[
                {
                    "field": "amount_cents",
                    "message": f"Pay at least {minimum / 100:.2f} and at most {MAX_AMOUNT_CENTS / 100:.2f}.",
                }
            ],
            minimum_cents=minimum,
        )
    return int(chosen)


def _payable(amount: int) -> None:
    if 0 < amount < MIN_CHARGE_CENTS:
        raise ValidationFailed(
            "The amount is below the smallest card payment.",
            errors=[{"field": "amount_cents", "message": f"Pay nothing or at least {MIN_CHARGE_CENTS / 100:.2f}."}],
        )


def _connected(row: Any) -> str:
    if not row["stripe_account_id"] or not row["stripe_onboarding_complete"]:
        raise SellerNotConnected()
    return str(row["stripe_account_id"])


async def checkout_item(
    services: Services,
    buyer: Buyer,
    item_id: uuid.UUID,
    *,
    amount_cents: int | None = None,
    promo_code: str | None = None,
) -> Checkout:
    pool = services.pool
    item = await queries.get_item_for_sale(pool, item_id)
    if item is None or not item["on_sale"]:
        raise NotFound(NO_SUCH_ITEM)
    if item["seller_id"] == buyer.user_id:
        raise BadRequest("This is your own item.")
    if not item["pwyw_enabled"] and item["price_cents"] == 0:
        raise BadRequest("This item is free: download it from its page.")
    if await queries.owns_item(pool, buyer.user_id, item_id):
        raise AlreadyPurchased(item_id=str(item_id))
    amount = _amount(item, amount_cents)
    promo = await check_promo(
        pool, seller_id=item["seller_id"], raw_code=promo_code, item_id=item_id, project_id=item["project_id"]
    )
    total = discounted(amount, promo)
    _payable(total)
    base = services.config.base_url.rstrip("/")
    if total == 0:
        return await _complete_free(services, buyer, item, promo, base)
    gateway = require_gateway(services)
    account = _connected(item)
    row = await queries.insert_transaction(
        pool, buyer_id=buyer.user_id, item=item, amount_cents=total, promo_code_id=promo.id if promo else None
    )
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": item["currency"],
                    "unit_amount": total,
                    "product_data": {"name": item["title"]},
                },
            }
        ],
        "client_reference_id": str(row["id"]),
        "metadata": {"mnwd_transaction_id": str(row["id"]), "mnwd_item_id": str(item_id)},
        "payment_intent_data": {"metadata": {"mnwd_transaction_id": str(row["id"])}},
        "customer_email": buyer.email,
        "success_url": f"{base}/checkout/{row['id']}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/@{item['seller_username']}/{item['project_slug']}/{item['slug']}",
    }
    try:
        session = await gateway.create_checkout_session(account, params)
    except PaymentProviderError:
        await queries.fail_transaction(pool, session_id=None, transaction_id=row["id"])
        raise
    await queries.set_transaction_session(pool, row["id"], str(session["id"]))
    return Checkout(row["id"], str(session["url"]))


async def _complete_free(services: Services, buyer: Buyer, item: Any, promo: Promo | None, base: str) -> Checkout:
    async def body(tx: Tx) -> uuid.UUID:
        # Nothing is paid, so a code's limit is strict here: two buyers racing for its last use get one each
        # only if there are two uses left (the row lock of the UPDATE orders them).
        if promo is not None and not await queries.redeem_promo(tx.conn, promo.id):
            raise PromoCodeInvalid("This promo code has been used up.", "exhausted")
        row = await queries.insert_transaction(
            tx.conn, buyer_id=buyer.user_id, item=item, amount_cents=0, promo_code_id=promo.id if promo else None
        )
        try:
            async with tx.conn.transaction():
                completed = await queries.complete_transaction(
                    tx.conn, session_id=None, transaction_id=row["id"], payment_intent=None
                )
        except asyncpg.UniqueViolationError:
            raise AlreadyPurchased(item_id=str(item["id"])) from None
        assert completed is not None
        await fulfilment.grant(tx, completed, count_promo=False)
        return uuid.UUID(str(row["id"]))

    transaction_id = await run_tx(services.pool, "commerce.checkout_free", body, metrics=services.metrics)
    return Checkout(transaction_id, f"{base}/checkout/{transaction_id}")


async def checkout_tier(
    services: Services, buyer: Buyer, tier_id: uuid.UUID, *, promo_code: str | None = None
) -> Checkout:
    pool = services.pool
    tier = await queries.get_tier_for_sale(pool, tier_id)
    if tier is None or not tier["on_sale"] or not tier["stripe_price_id"]:
        raise NotFound(NO_SUCH_TIER)
    if tier["seller_id"] == buyer.user_id:
        raise BadRequest("This is your own tier.")
    gateway = require_gateway(services)
    account = _connected(tier)
    current = await queries.list_subscriptions_of(pool, buyer.user_id)
    if any(s["project_id"] == tier["project_id"] and s["status"] == "active" for s in current):
        raise AlreadyPurchased(project_id=str(tier["project_id"]))
    promo = await check_promo(
        pool, seller_id=tier["seller_id"], raw_code=promo_code, tier_id=tier_id, project_id=tier["project_id"]
    )
    # What each period bills: the tier's price less a discount code's coupon (Stripe's ``duration=forever``).
    billed = discounted(tier["price_cents"], promo) if promo is not None and promo.purpose == "discount" else None
    row = await queries.insert_subscription(
        pool,
        subscriber_id=buyer.user_id,
        tier=tier,
        promo_code_id=promo.id if promo else None,
        amount_cents=tier["price_cents"] if billed is None else billed,
    )
    base = services.config.base_url.rstrip("/")
    subscription_data: dict[str, Any] = {"metadata": {"mnwd_subscription_id": str(row["id"])}}
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": tier["stripe_price_id"], "quantity": 1}],
        "client_reference_id": str(row["id"]),
        "metadata": {"mnwd_subscription_id": str(row["id"])},
        "subscription_data": subscription_data,
        "customer_email": buyer.email,
        "success_url": f"{base}/checkout/subscriptions/{row['id']}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/library",
    }
    if promo is not None and promo.purpose == "free_trial":
        subscription_data["trial_period_days"] = promo.trial_days
    elif promo is not None and promo.purpose == "discount":
        coupon = await gateway.create_coupon(
            account,
            percent_off=promo.discount_value if promo.discount_type == "percent" else None,
            amount_off=promo.discount_value if promo.discount_type == "fixed" else None,
            currency=tier["currency"],
        )
        params["discounts"] = [{"coupon": coupon}]
    session = await gateway.create_checkout_session(account, params)
    await queries.set_subscription_session(pool, row["id"], str(session["id"]))
    return Checkout(row["id"], str(session["url"]), kind="tier")
