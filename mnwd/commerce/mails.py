"""Mail about purchases, from durable jobs queued by the winner of fulfilment (so once per purchase):

- ``commerce.send_receipt`` ``{"transaction_id"}``: the buyer's receipt, with a link to ``/library``;
- ``commerce.notify_sale`` ``{"transaction_id"}``: the seller's notice of a sale, only when their
  ``users.notify_sale`` is on (read when the job runs, so turning it off stops notices still queued), with
  its one-click unsubscribe (`mnwd.outbound.notify`).

Both go into the outbound queue under an idempotency key per purchase (``receipt:<id>``, ``sale:<id>``): a job
run again after a crash queues nothing more, and the queue's own guarantees cover the sending.
"""

from __future__ import annotations

import uuid

from mnwd.commerce import queries
from mnwd.db.jobs import Job
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail, notify
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
    await enqueue_mail(
        services.pool,
        Mail(
            to=buyer["email"],
            subject=f"Your receipt: {row['item_title']}",
            text=(
                f"Thank you for buying {row['item_title']} by {row['seller_username']}.\n\n"
                f"Paid: {_money(row['amount_cents'], row['currency'])}\n"
                f"Receipt: {row['id']}\n\n"
                f"Your purchases and downloads: {base}/library\n"
            ),
        ),
        key=f"receipt:{row['id']}",
    )


async def notify_sale(services: Services, job: Job) -> None:
    row = await queries.get_transaction(services.pool, uuid.UUID(job.payload["transaction_id"]))
    if row is None or row["seller_id"] is None:
        return
    seller = await queries.get_seller(services.pool, row["seller_id"])
    if seller is None:
        return
    base = services.config.base_url.rstrip("/")
    await notify(
        services,
        services.pool,
        row["seller_id"],
        "sale",
        Mail(
            to=seller["email"],
            subject=f"New sale: {row['item_title']}",
            text=(
                f"You sold {row['item_title']} for {_money(row['amount_cents'], row['currency'])}.\n\n"
                f"Your sales: {base}/dashboard/commerce/sales\n"
            ),
        ),
        key=f"sale:{row['id']}",
    )
