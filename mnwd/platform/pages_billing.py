"""Billing pages: ``/settings/billing`` (a creator's tier: subscribe, switch, manage in Stripe's billing portal)
and ``/fan-plus`` (what Fan+ grants, its supporters, subscribing and managing). Forms whose next stop is Stripe
answer with commerce's `leave_for` page."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.commerce import leave_for
from mnwd.errors import Forbidden
from mnwd.platform import billing
from mnwd.web.forms import field, read_form
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render

__all__ = ["setup"]


async def billing_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    if not viewer.can_create_projects:
        raise Forbidden("Only creators have a creator tier.")
    services = request.app[SERVICES]
    # The subscription first: the page stops refreshing once it is live, and a payment committed between the
    # two reads must then show in the tier too (read the other way round, it showed "basic" for good).
    subscription = await billing.creator_billing(services, viewer.user_id)
    tier, effective, grandfathered_until = await billing.tier_of(services.pool, viewer.user_id)
    context = {
        "plans": billing.tier_plans(services),
        "subscription": subscription,
        "tier": tier,
        "effective_tier": effective,
        "grandfathered_until": grandfathered_until,
        "checkout_done": request.query.get("checkout") == "done",
        "changed": request.query.get("changed", "")[:20],
    }
    response = await render(request, "platform/billing.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


async def choose_tier(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    url = await billing.choose_tier(request.app[SERVICES], viewer, field(form, "tier", max_chars=40))
    return await leave_for(request, url)


async def billing_portal(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await read_form(request)
    return await leave_for(request, await billing.portal_url(request.app[SERVICES], viewer, billing.CREATOR_TIER))


async def fan_plus_page(request: web.Request) -> web.Response:
    viewer = await get_viewer(request)
    services = request.app[SERVICES]
    mine = None if viewer is None else await billing.fan_plus_of(services.pool, viewer.user_id)
    context = {
        "mine": mine,
        "price": f"{billing.fan_plus_price_cents(services) / 100:.2f}",
        "supporters": await billing.supporters(services.pool),
        "checkout_done": request.query.get("checkout") == "done",
    }
    response = await render(request, "platform/fan_plus.html", context)
    if viewer is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


async def fan_plus_subscribe(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await read_form(request)
    return await leave_for(request, await billing.subscribe_fan_plus(request.app[SERVICES], viewer))


async def fan_plus_portal(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await read_form(request)
    return await leave_for(request, await billing.portal_url(request.app[SERVICES], viewer, billing.FAN_PLUS))


def setup(app: web.Application) -> None:
    app.router.add_get(billing.BILLING_PAGE, billing_page)
    app.router.add_post(f"{billing.BILLING_PAGE}/tier", choose_tier)
    app.router.add_post(f"{billing.BILLING_PAGE}/portal", billing_portal)
    app.router.add_get(billing.FAN_PLUS_PAGE, fan_plus_page)
    app.router.add_post(f"{billing.FAN_PLUS_PAGE}/subscribe", fan_plus_subscribe)
    app.router.add_post(f"{billing.FAN_PLUS_PAGE}/portal", fan_plus_portal)
