"""Mail about purchases, sent from durable jobs queued by the winner of fulfilment (so once per purchase):

- ``commerce.send_receipt`` ``{"transaction_id"}``: the buyer's receipt, with a link to ``/library``;
- ``commerce.notify_sale`` ``{"transaction_id"}``: the seller's notice of a sale, only when their
  ``users.notify_sale`` is on (read when the job runs, so turning it off stops notices still queued).

A job runs at least once: a crash after sending and before the job is marked done sends the mail again (the
mailer has no idempotency key until `mnwd.outbound` lands).
"""

from __future__ import annotations

import uuid

from mnwd.commerce import queries
from mnwd.db.jobs import Job
from mnwd.mail import Mail
from mnwd.services import Services

__all__ = ["notify_sale", "send_receipt"]


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency.upper()}"


async def send_receipt(services: Services, job: Job) -> None:
    row = await queries.get_transaction(services.pool, uuid.UUID(job.payload["transaction_id"]))
    if row is None:
        return
    buyer = await queries.get_seller(services.pool, row["buyer_id"])
    if buyer is None:
        return
    base = services.config.base_url.rstrip("/")
    await services.mailer.send(
        Mail(
            to=buyer["email"],
            subject=f"Your receipt: {row['item_title']}",
            text=(
                f"Thank you for buying {row['item_title']} by {row['seller_username']}.\n\n"
                f"Paid: {_money(row['amount_cents'], row['currency'])}\n"
                f"Receipt: {row['id']}\n\n"
                f"Your purchases and downloads: {base}/library\n"
            ),
        )
    )


async def notify_sale(services: Services, job: Job) -> None:
    row = await queries.get_transaction(services.pool, uuid.UUID(job.payload["transaction_id"]))
    if row is None or row["seller_id"] is None:
        return
    seller = await queries.get_seller(services.pool, row["seller_id"])
    if seller is None or not seller["notify_sale"]:
        return
    base = services.config.base_url.rstrip("/")
    await services.mailer.send(
        Mail(
            to=seller["email"],
            subject=f"New sale: {row['item_title']}",
            text=(
                f"You sold {row['item_title']} for {_money(row['amount_cents'], row['currency'])}.\n\n"
                f"Your sales: {base}/dashboard/commerce/sales\n"
            ),
        )
    )
