"""The creator's commerce dashboard (creators only; everyone else is sent away with 403).

- ``GET /dashboard/commerce``: payments status; ``POST /dashboard/commerce/connect`` → Stripe onboarding
  (Account Link); ``GET /dashboard/commerce/connect/return``: back from Stripe, status read again.
- ``GET /dashboard/commerce/sales``: revenue per item and day, refunds, disputes, MRR, latest sales with a
  refund form each; ``POST /dashboard/commerce/sales/{transaction_id}/refund`` (``amount`` empty: all that
  is left); ``GET /dashboard/commerce/sales.csv``.
- ``GET``/``POST /dashboard/commerce/tiers``: subscription tiers (saved once Stripe has the Product/Price).
- ``GET``/``POST /dashboard/commerce/promos``: promo codes.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from mnwd.accounts import Viewer, require_viewer
from mnwd.commerce import connect, promos, refunds, sales, subscriptions
from mnwd.commerce.dashboard import promo_targets, tiers_page_context
from mnwd.commerce.leaving import leave_for
from mnwd.errors import Forbidden, Problem, ValidationFailed
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]


async def _creator(request: web.Request) -> Viewer:
    viewer = await require_viewer(request)
    if not viewer.can_create_projects:
        raise Forbidden("Only creators sell here.")
    return viewer


async def home(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    seller = await connect.get_seller(request.app[SERVICES], viewer.user_id)
    return await render(request, "commerce/dashboard.html", {"seller": seller})


async def start_connect(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    return await leave_for(request, await connect.onboarding_url(request.app[SERVICES], viewer.user_id))


async def connect_return(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    await connect.refresh_status(request.app[SERVICES], viewer.user_id)
    return redirect("/dashboard/commerce")


async def sales_page(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    summary = await sales.sales_summary(request.app[SERVICES], viewer.user_id)
    return await render(request, "commerce/sales.html", {"summary": summary, "days": sales.DAYS})


async def sales_csv(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    text = await sales.sales_csv(request.app[SERVICES], viewer.user_id)
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="sales.csv"', "Cache-Control": "no-store"},
    )


def _cents(raw: str) -> int | None:
    if not raw.strip():
        return None
    try:
        amount = Decimal(raw.strip())
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0 or amount > 10_000_000:
        raise ValidationFailed("The amount is not valid.", errors=[{"field": "amount", "message": "Like 2.50."}])
    return int((amount * 100).to_integral_value())


async def refund(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    transaction_id = uuid_param(request, "transaction_id", "There is no such sale.")
    form = await read_form(request)
    await refunds.refund(request.app[SERVICES], viewer.user_id, transaction_id, _cents(field(form, "amount")))
    return redirect("/dashboard/commerce/sales?refund=requested")


async def tiers_page(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    return await render(request, "commerce/tiers.html", await tiers_page_context(request.app[SERVICES], viewer.user_id))


async def create_tier(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    values: dict[str, Any] = {k: field(form, k) for k in ("project_id", "name", "description", "billing_interval")}
    try:
        price = _cents(field(form, "price"))
        values["price_cents"] = price if price is not None else ""
        await subscriptions.create_tier(services, viewer.user_id, values)
    except Problem as problem:
        context = await tiers_page_context(services, viewer.user_id)
        return await render_problem(request, "commerce/tiers.html", problem, {**context, "form": dict(form)})
    return redirect("/dashboard/commerce/tiers")


async def promos_page(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    services = request.app[SERVICES]
    context = await promo_targets(services, viewer.user_id)
    return await render(request, "commerce/promos.html", context)


async def create_promo(request: web.Request) -> web.Response:
    viewer = await _creator(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    context = await promo_targets(services, viewer.user_id)
    values = {k: field(form, k, max_chars=100) for k in form}
    try:
        await promos.create_promo(services.pool, viewer.user_id, values, targets=context["target_ids"])
    except Problem as problem:
        return await render_problem(request, "commerce/promos.html", problem, {**context, "form": values})
    return redirect("/dashboard/commerce/promos")


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/commerce", home)
    app.router.add_post("/dashboard/commerce/connect", start_connect)
    app.router.add_get("/dashboard/commerce/connect/return", connect_return)
    app.router.add_get("/dashboard/commerce/sales", sales_page)
    app.router.add_get("/dashboard/commerce/sales.csv", sales_csv)
    app.router.add_post("/dashboard/commerce/sales/{transaction_id}/refund", refund)
    app.router.add_get("/dashboard/commerce/tiers", tiers_page)
    app.router.add_post("/dashboard/commerce/tiers", create_tier)
    app.router.add_get("/dashboard/commerce/promos", promos_page)
    app.router.add_post("/dashboard/commerce/promos", create_promo)
