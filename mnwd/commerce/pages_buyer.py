"""The buyer's pages.

- ``POST /checkout/items/{item_id}`` (the item page's buy form: ``amount`` in currency units for
  pay-what-you-want, ``promo_code``) → 303 to Stripe's Checkout page, or to ``/checkout/{id}`` when free;
  a refused form shows the item's problem page (422 with the reason).
- ``GET /checkout/{transaction_id}``: where Stripe sends the buyer back: "processing" (refreshing every 2 s)
  until the webhook has completed the row, then a link to the library. It never fulfils by itself. Only the
  buyer sees it; anyone else gets 404.
- ``GET /memberships/{username}``: a creator's subscription tiers; ``POST /checkout/tiers/{tier_id}``
  subscribes (``promo_code``); ``GET /checkout/subscriptions/{id}`` is its status page.
- ``GET /library``: purchases with fresh signed download links, subscriptions; ``POST
  /library/subscriptions/{id}/manage`` → the Stripe billing portal (cancel there).
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.commerce import checkout, library, storefront, subscriptions
from mnwd.commerce.checkout import Buyer
from mnwd.commerce.leaving import leave_for
from mnwd.errors import NotFound, ValidationFailed
from mnwd.web.forms import field, read_form
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render
from mnwd.web.params import uuid_param

__all__ = ["setup"]


def _cents(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount > checkout.MAX_AMOUNT_CENTS:
        raise ValidationFailed(
            "The amount is not a number.", errors=[{"field": "amount_cents", "message": "Give an amount like 5.00."}]
        )
    return int((amount * 100).to_integral_value())


async def buy_item(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    item_id = uuid_param(request, "item_id", checkout.NO_SUCH_ITEM)
    form = await read_form(request)
    started = await checkout.checkout_item(
        request.app[SERVICES],
        Buyer(viewer.user_id, viewer.email),
        item_id,
        amount_cents=_cents(field(form, "amount")),
        promo_code=field(form, "promo_code", max_chars=64) or None,
    )
    return await leave_for(request, started.url)


async def buy_tier(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    tier_id = uuid_param(request, "tier_id", checkout.NO_SUCH_TIER)
    form = await read_form(request)
    started = await checkout.checkout_tier(
        request.app[SERVICES],
        Buyer(viewer.user_id, viewer.email),
        tier_id,
        promo_code=field(form, "promo_code", max_chars=64) or None,
    )
    return await leave_for(request, started.url)


async def checkout_status(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    transaction_id = uuid_param(request, "transaction_id", "There is no such purchase.")
    row = await storefront.purchase_of(request.app[SERVICES], viewer.user_id, transaction_id)
    return await render(request, "commerce/checkout_status.html", {"purchase": row})


async def subscription_status(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    subscription_id = uuid_param(request, "subscription_id", "There is no such subscription.")
    row = await storefront.subscription_of(request.app[SERVICES], viewer.user_id, subscription_id)
    return await render(request, "commerce/subscription_status.html", {"subscription": row})


async def memberships(request: web.Request) -> web.Response:
    tiers = await storefront.tiers_of(request.app[SERVICES], request.match_info["username"])
    if not tiers:
        raise NotFound("This creator offers no memberships.")
    return await render(
        request, "commerce/memberships.html", {"tiers": tiers, "username": request.match_info["username"]}
    )


async def library_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    entries = await library.list_library(services, viewer.user_id, time.time())
    subs = await storefront.subscriptions_of(services, viewer.user_id)
    return await render(
        request,
        "commerce/library.html",
        {"entries": entries, "subscriptions": subs, "link_minutes": library.LINK_SECONDS // 60},
    )


async def manage_subscription(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    subscription_id = uuid_param(request, "subscription_id", "There is no such subscription.")
    url = await subscriptions.portal_url(request.app[SERVICES], viewer.user_id, subscription_id)
    return await leave_for(request, url)


def setup(app: web.Application) -> None:
    app.router.add_post("/checkout/items/{item_id}", buy_item)
    app.router.add_post("/checkout/tiers/{tier_id}", buy_tier)
    app.router.add_get("/checkout/subscriptions/{subscription_id}", subscription_status)
    app.router.add_get("/checkout/{transaction_id}", checkout_status)
    app.router.add_get("/memberships/{username}", memberships)
    app.router.add_get("/library", library_page)
    app.router.add_post("/library/subscriptions/{subscription_id}/manage", manage_subscription)
