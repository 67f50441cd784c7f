"""The creator's sales figures (``/dashboard/commerce/sales``) and their CSV export.

`sales_summary(services, seller_id)`: revenue per item (gross, refunded, disputes), net revenue per day over
`DAYS`, the MRR of active subscriptions per currency (what each is billed:
a discount code's price, nothing in a free trial, a twelfth of a yearly one), the latest sales.
`sales_csv(services, seller_id)`: every completed or refunded sale, one row each, columns `CSV_COLUMNS`;
cells that a spreadsheet would run as a formula (``= + - @``) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.commerce import queries
from mnwd.services import Services

__all__ = ["CSV_COLUMNS", "DAYS", "SalesSummary", "sales_csv", "sales_summary"]

DAYS = 30
RECENT = 50
CSV_LIMIT = 1_000_000
CSV_COLUMNS = (
    "Purchase ID",
    "Purchase Date",
    "Item Name",
    "Buyer Username",
    "Buyer Email",
    "Amount",
    "Currency",
    "Refunded Amount",
    "Fully Refunded?",
    "Disputed?",
    "Discount Code",
    "Status",
)


@dataclass(frozen=True)
class SalesSummary:
    by_item: list[asyncpg.Record]
    by_day: list[asyncpg.Record]
    mrr: list[asyncpg.Record]
    recent: list[asyncpg.Record]


async def sales_summary(services: Services, seller_id: uuid.UUID) -> SalesSummary:
    pool = services.pool
    return SalesSummary(
        by_item=await queries.sales_by_item(pool, seller_id),
        by_day=await queries.sales_by_day(pool, seller_id, DAYS),
        mrr=await queries.seller_mrr(pool, seller_id),
        recent=await queries.list_sales(pool, seller_id, RECENT),
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


async def sales_csv(services: Services, seller_id: uuid.UUID) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in await queries.list_sales(services.pool, seller_id, CSV_LIMIT):
        writer.writerow(
            [
                _cell(v)
                for v in (
                    row["id"],
                    row["completed_at"].isoformat() if row["completed_at"] else "",
                    row["item_title"],
                    row["buyer_username"],
                    row["buyer_email"],
                    f"{row['amount_cents'] / 100:.2f}",
                    row["currency"],
                    f"{row['refunded_cents'] / 100:.2f}",
                    "1" if row["status"] == "refunded" else "0",
                    "1" if row["dispute_status"] else "0",
                    row["promo_code"] or "",
                    row["status"],
                )
            ]
        )
    return out.getvalue()
