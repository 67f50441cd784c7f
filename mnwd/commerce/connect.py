"""Stripe Connect onboarding of a creator (``/dashboard/commerce``).

`onboarding_url(services, user_id)`: the creator's connected account (made on first use: full Stripe
Dashboard, Stripe fees paid by the account; never Express or Custom, which cost the platform per account)
and a fresh Account Link to Stripe's onboarding. Two clicks at once may both create an account at Stripe;
``users.stripe_account_id`` keeps the first one saved (`queries.set_stripe_account`), the other stays unused.

`refresh_status(services, user_id)`: on the return from Stripe, the account is read again so the dashboard
is right even before ``account.updated`` arrives (which sets the same flag).
"""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.commerce import queries
from mnwd.commerce.gateway import require_gateway
from mnwd.errors import Forbidden, NotFound
from mnwd.services import Services

__all__ = ["get_seller", "onboarding_url", "refresh_status"]


async def get_seller(services: Services, user_id: uuid.UUID) -> asyncpg.Record:
    seller = await queries.get_seller(services.pool, user_id)
    if seller is None:
        raise NotFound("There is no such account.")
    return seller


async def onboarding_url(services: Services, user_id: uuid.UUID) -> str:
    gateway = require_gateway(services)
    seller = await get_seller(services, user_id)
    if not seller["can_create_projects"]:
        raise Forbidden("Only creators take payments.")
    account = seller["stripe_account_id"]
    if account is None:
        created = await gateway.create_account(email=seller["email"], user_id=str(user_id))
        account = await queries.set_stripe_account(services.pool, user_id, str(created["id"]))
    base = services.config.base_url.rstrip("/")
    return await gateway.account_link(
        account, return_url=f"{base}/dashboard/commerce/connect/return", refresh_url=f"{base}/dashboard/commerce"
    )


async def refresh_status(services: Services, user_id: uuid.UUID) -> bool:
    gateway = require_gateway(services)
    seller = await get_seller(services, user_id)
    if seller["stripe_account_id"] is None:
        return False
    account = await gateway.retrieve_account(seller["stripe_account_id"])
    complete = bool(account.get("charges_enabled")) and bool(account.get("details_submitted"))
    await queries.set_onboarding(services.pool, seller["stripe_account_id"], complete)
    return complete
