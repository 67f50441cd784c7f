"""Refunds by the seller (``/dashboard/commerce/sales``): full or partial, on the connected account.

`refund(services, seller_id, transaction_id, amount_cents)`: only the seller of a completed purchase with a
payment; ``amount_cents`` ``None`` refunds what is left. Nothing changes here when Stripe accepts: the
``charge.refunded`` event records the amount and, for a full refund, ends the buyer's access (so a refund
made in the Stripe Dashboard does the same). Job ``commerce.refund_duplicate`` refunds a second payment for
something the buyer already owned (`mnwd.commerce.fulfilment`).
"""

from __future__ import annotations

import uuid

from mnwd.commerce import queries
from mnwd.commerce.gateway import require_gateway
from mnwd.db.jobs import Job
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.services import Services

__all__ = ["refund", "refund_duplicate"]


async def refund(services: Services, seller_id: uuid.UUID, transaction_id: uuid.UUID, amount_cents: int | None) -> None:
    row = await queries.get_transaction(services.pool, transaction_id)
    if row is None or row["seller_id"] != seller_id:
        raise NotFound("There is no such sale.")
    if row["status"] != "completed" or not row["stripe_payment_intent_id"]:
        raise Conflict("Only a completed, paid sale can be refunded.")
    left = row["amount_cents"] - row["refunded_cents"]
    if amount_cents is not None and not 1 <= amount_cents <= left:
        raise ValidationFailed(
            "The refund is larger than what is left.",
            errors=[{"field": "amount_cents", "message": f"From 1 to {left} cents."}],
        )
    gateway = require_gateway(services)
    await gateway.refund(
        row["stripe_account_id"], payment_intent=row["stripe_payment_intent_id"], amount_cents=amount_cents
    )


async def refund_duplicate(services: Services, job: Job) -> None:
    payment_intent = job.payload.get("payment_intent")
    account = job.payload.get("account")
    if not payment_intent or not account:
        return
    gateway = require_gateway(services)
    await gateway.refund(
        str(account), payment_intent=str(payment_intent), amount_cents=None, idempotency_key=f"mnwd-duplicate-{job.key}"
    )
