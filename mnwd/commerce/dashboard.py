"""What the creator's tier and promo code pages show (`mnwd.commerce.pages_dashboard`)."""

from __future__ import annotations

import uuid
from typing import Any

from mnwd.commerce import queries
from mnwd.services import Services

__all__ = ["promo_targets", "tiers_page_context"]


async def tiers_page_context(services: Services, seller_id: uuid.UUID) -> dict[str, Any]:
    pool = services.pool
    return {
        "seller": await queries.get_seller(pool, seller_id),
        "projects": await queries.list_seller_projects(pool, seller_id),
        "tiers": await queries.list_tiers(pool, seller_id),
    }


async def promo_targets(services: Services, seller_id: uuid.UUID) -> dict[str, Any]:
    pool = services.pool
    items = await queries.list_seller_items(pool, seller_id)
    projects = await queries.list_seller_projects(pool, seller_id)
    tiers = await queries.list_tiers(pool, seller_id)
    return {
        "promos": await queries.list_promos(pool, seller_id),
        "items": items,
        "projects": projects,
        "tiers": tiers,
        "target_ids": {
            "item": {r["id"] for r in items},
            "project": {r["id"] for r in projects},
            "tier": {r["id"] for r in tiers},
        },
    }
