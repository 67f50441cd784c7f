"""What a buyer reads of their own purchases and subscriptions, and the tiers a creator offers.

Every lookup by id takes the viewer too: a transaction or subscription of another buyer is `NotFound`,
exactly like one that does not exist (no hint that the id is real).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from mnwd.commerce import queries
from mnwd.errors import NotFound
from mnwd.services import Services
from mnwd.timestamps import rfc3339

__all__ = ["purchase_json", "purchase_of", "purchases_json", "subscription_of", "subscriptions_of", "tiers_of"]


async def purchase_of(services: Services, buyer_id: uuid.UUID, transaction_id: uuid.UUID) -> asyncpg.Record:
    row = await queries.get_transaction_for_buyer(services.pool, transaction_id, buyer_id)
    if row is None:
        raise NotFound("There is no such purchase.")
    return row


async def subscription_of(services: Services, subscriber_id: uuid.UUID, subscription_id: uuid.UUID) -> asyncpg.Record:
    row = await queries.get_owned_subscription(services.pool, subscription_id, subscriber_id)
    if row is None:
        raise NotFound("There is no such subscription.")
    return row


async def subscriptions_of(services: Services, subscriber_id: uuid.UUID) -> list[asyncpg.Record]:
    return await queries.list_subscriptions_of(services.pool, subscriber_id)


async def tiers_of(services: Services, username: str) -> list[asyncpg.Record]:
    return await queries.list_tiers_for_sale(services.pool, username)


def _time(value: Any) -> str | None:
    return None if value is None else rfc3339(value)


def purchase_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "item_id": row["item_id"],
        "item_title": row["item_title"],
        "seller": row["seller_username"],
        "amount_cents": row["amount_cents"],
        "refunded_cents": row["refunded_cents"],
        "currency": row["currency"],
        "status": row["status"],
        "access": bool(row["grants_access"]),
        "completed_at": _time(row["completed_at"]),
        "created_at": _time(row["created_at"]),
    }


async def purchases_json(services: Services, buyer_id: uuid.UUID) -> dict[str, Any]:
    purchases = await queries.list_library(services.pool, buyer_id)
    subs = await queries.list_subscriptions_of(services.pool, buyer_id)
    return {
        "purchases": [purchase_json(r) for r in purchases],
        "subscriptions": [
            {
                "id": s["id"],
                "tier_id": s["tier_id"],
                "tier": s["tier_name"],
                "project": s["project_title"],
                "seller": s["seller_username"],
                "status": s["status"],
                "cancel_at_period_end": s["cancel_at_period_end"],
                "current_period_end": _time(s["current_period_end"]),
            }
            for s in subs
        ],
    }
