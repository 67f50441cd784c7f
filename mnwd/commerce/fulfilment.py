"""Fulfilment exactly once: a purchase's ``transactions`` row moves ``pending`` → ``completed`` (or ``failed``) in one
``UPDATE … WHERE status = 'pending' RETURNING`` (`queries.complete_transaction`); only the caller that got the
row back is the winner, and only the winner grants anything, in the same transaction:

- the promo code's use is counted;
- job ``licensing.issue_for_purchase`` ``{"transaction_id"}`` when the item (or a part of the bundle) has
  license keys enabled (the licensing domain issues the key, idempotently);
- jobs ``commerce.send_receipt`` (to the buyer) and ``commerce.notify_sale`` (to the seller, if
  ``users.notify_sale``), each keyed by the transaction so they are queued once.

Races handled: the same ``checkout.session.completed`` delivered many times at once, and with
``async_payment_succeeded``: the row lock of the ``UPDATE`` lets one win, the others find it completed. The
buyer's return to the success page never fulfils (it only reads). A second paid session of an item the buyer
already owns (two tabs) violates ``transactions_one_completed_per_buyer_item``: that row is marked ``failed``
with its payment intent, job ``commerce.refund_duplicate`` refunds the payment, and the refund's
``charge.refunded`` makes the row ``refunded`` (a refunded sale in the seller's figures, never access).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from mnwd.commerce import queries
from mnwd.db import jobs
from mnwd.db.tx import Tx

__all__ = [
    "LICENSE_JOB",
    "RECEIPT_JOB",
    "REFUND_DUPLICATE_JOB",
    "SALE_JOB",
    "complete_session",
    "fail_session",
    "grant",
    "license_follows_dispute",
]

log = logging.getLogger(__name__)

LICENSE_JOB = "licensing.issue_for_purchase"
# A dispute opened or lost revokes the purchase's license key, one won restores it (licensing's jobs).
LICENSE_REVOKE_JOB = "licensing.revoke_for_transaction"
LICENSE_RESTORE_JOB = "licensing.restore_for_transaction"
RECEIPT_JOB = "commerce.send_receipt"
SALE_JOB = "commerce.notify_sale"
REFUND_DUPLICATE_JOB = "commerce.refund_duplicate"


def _metadata_id(session: dict[str, Any]) -> uuid.UUID | None:
    raw = (session.get("metadata") or {}).get("mnwd_transaction_id") or session.get("client_reference_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def grant(tx: Tx, row: asyncpg.Record, *, count_promo: bool = True) -> None:
    """What the winner does with the row it completed (in the same transaction)."""
    conn = tx.conn
    key = str(row["id"])
    if count_promo and row["promo_code_id"] is not None and not await queries.redeem_promo(conn, row["promo_code_id"]):
        log.info("promo code used beyond its limit by a paid purchase", extra={"transaction": key})
    if row["item_id"] is not None and await queries.item_needs_license(conn, row["item_id"]):
        await jobs.enqueue(conn, LICENSE_JOB, {"transaction_id": key}, key=f"purchase:{key}")
    await jobs.enqueue(conn, RECEIPT_JOB, {"transaction_id": key}, key=f"receipt:{key}")
    await jobs.enqueue(conn, SALE_JOB, {"transaction_id": key}, key=f"sale:{key}")


async def license_follows_dispute(tx: Tx, row: asyncpg.Record) -> None:
    """After a dispute changed ``row``: its license key (if the item has keys) follows the access."""
    if row["item_id"] is None or not await queries.item_needs_license(tx.conn, row["item_id"]):
        return
    if row["dispute_status"] == "won":
        await jobs.enqueue(tx.conn, LICENSE_RESTORE_JOB, {"transaction_id": str(row["id"])})
    else:
        payload = {"transaction_id": str(row["id"]), "reason": f"dispute {row['dispute_status']}"}
        await jobs.enqueue(tx.conn, LICENSE_REVOKE_JOB, payload)


async def complete_session(tx: Tx, session: dict[str, Any], account: str | None) -> str:
    """Fulfil the purchase of a paid Checkout Session: ``fulfilled``, ``already`` (someone else won, or no
    such pending row) or ``duplicate-refunded``."""
    conn = tx.conn
    payment_intent = session.get("payment_intent")
    try:
        async with conn.transaction():
            row = await queries.complete_transaction(
                conn, session_id=session["id"], transaction_id=_metadata_id(session), payment_intent=payment_intent
            )
    except asyncpg.UniqueViolationError:
        await queries.fail_transaction(
            conn, session_id=session["id"], transaction_id=_metadata_id(session), payment_intent=payment_intent
        )
        await jobs.enqueue(
            conn,
            REFUND_DUPLICATE_JOB,
            {"session_id": session["id"], "payment_intent": payment_intent, "account": account},
            key=f"refund:{session['id']}",
        )
        return "duplicate-refunded"
    if row is None:
        return "already"
    await grant(tx, row)
    return "fulfilled"


async def fail_session(tx: Tx, session: dict[str, Any]) -> str:
    failed = await queries.fail_transaction(tx.conn, session_id=session["id"], transaction_id=_metadata_id(session))
    return "failed" if failed else "already"
