"""The administration under ``/admin`` (users with ``is_admin``; anyone else gets 403 on every route): the
waitlist and its waves, users, the reports queue with its actions, platform stats and the audit log."""

from __future__ import annotations

import uuid

from aiohttp import web

from mnwd import store
from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.platform import admin, audit, billing, waitlist
from mnwd.platform.charts import bar_chart
from mnwd.tiers import TIERS
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["require_admin", "setup"]


async def require_admin(request: web.Request) -> Viewer:
    viewer = await require_viewer(request)
    if not viewer.is_admin:
        raise Forbidden("Only admins may open the administration pages.")
    return viewer


async def _render(request: web.Request, template: str, context: dict[str, object], status: int = 200) -> web.Response:
    response = await render(request, template, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _waitlist_context(request: web.Request) -> dict[str, object]:
    pool = request.app[SERVICES].pool
    status = request.query.get("status", "pending")
    status = status if status in waitlist.STATUSES else "pending"
    return {
        "entries": await waitlist.list_entries(pool, status),
        "waves": await waitlist.list_waves(pool),
        "counts": await waitlist.counts(pool),
        "status": status,
        "saved": request.query.get("saved", ""),
    }


async def waitlist_page(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _render(request, "platform/admin_waitlist.html", await _waitlist_context(request))


async def open_wave(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    form = await read_form(request)
    picked: list[uuid.UUID] | None = None
    if form.getall("pick", []):
        try:
            picked = [uuid.UUID(str(value)) for value in form.getall("pick")]
        except ValueError:
            picked = []
    count_text = field(form, "count")
    count = int(count_text) if count_text.isdigit() and len(count_text) < 7 else 0
    try:
        number, invited = await waitlist.open_wave(
            request.app[SERVICES], admin, count, picked, field(form, "name", max_chars=100)
        )
    except (ValidationFailed, Conflict) as problem:
        return await render_problem(request, "platform/admin_waitlist.html", problem, await _waitlist_context(request))
    return redirect(f"/admin/waitlist?saved=wave-{number}-{invited}")


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


async def overview_page(request: web.Request) -> web.Response:
    await require_admin(request)
    found = await admin.stats(request.app[SERVICES].pool)
    charts = {
        "signups": bar_chart("Sign-ups a day", found.days, found.signups),
        "sales": bar_chart("Sales a day (cents)", found.days, found.sales_cents),
        "sync": bar_chart("Sync changes a day", found.days, found.sync_changes),
    }
    context = {"stats": found, "charts": charts, "days": len(found.days)}
    return await _render(request, "platform/admin_overview.html", context)


async def users_page(request: web.Request) -> web.Response:
    await require_admin(request)
    query = request.query.get("q", "")[:100]
    users = await admin.search_users(request.app[SERVICES].pool, query)
    return await _render(request, "platform/admin_users.html", {"users": users, "q": query})


async def _user_context(request: web.Request) -> dict[str, object]:
    user_id = uuid_param(request, "user_id", "There is no such user.")
    services = request.app[SERVICES]
    user = await admin.get_user(services.pool, user_id)
    return {
        "user": user,
        "tiers": TIERS,
        "saved": request.query.get("saved", ""),
        "form": {},
        "subscription": await billing.creator_billing(services, user_id),
        "fan_plus": await billing.fan_plus_of(services.pool, user_id),
    }


async def user_page(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _render(request, "platform/admin_user.html", await _user_context(request))


async def user_action(request: web.Request) -> web.Response:
    viewer = await require_admin(request)
    user_id = uuid_param(request, "user_id", "There is no such user.")
    action = request.match_info["action"]
    form = await read_form(request)
    services = request.app[SERVICES]
    try:
        if action == "suspend":
            await admin.suspend(services, viewer, user_id, field(form, "reason", max_chars=2000))
        elif action == "unsuspend":
            await admin.unsuspend(services, viewer, user_id)
        else:
            await admin.set_tier(
                services,
                viewer,
                user_id,
                field(form, "tier"),
                field(form, "override_mb"),
                field(form, "grandfathered_until"),
            )
    except (ValidationFailed, Conflict) as problem:
        context = {**await _user_context(request), "form": dict(form)}
        return await render_problem(request, "platform/admin_user.html", problem, context)
    return redirect(f"/admin/users/{user_id}?saved={action}")


async def moderation_page(request: web.Request) -> web.Response:
    await require_admin(request)
    pool = request.app[SERVICES].pool
    status = request.query.get("status", "open")
    status = status if status in store.REPORT_STATUSES else "open"
    page = _page_number(request)
    reports, more = await store.list_reports(pool, status, page)
    context = {
        "reports": reports,
        "status": status,
        "counts": await store.count_reports(pool),
        "page": page,
        "more": more,
        "saved": request.query.get("saved", ""),
    }
    return await _render(request, "platform/admin_moderation.html", context)


async def moderation_action(request: web.Request) -> web.Response:
    viewer = await require_admin(request)
    report_id = uuid_param(request, "report_id", "There is no such report.")
    form = await read_form(request)
    action = request.match_info["action"]
    await admin.decide_report(request.app[SERVICES], viewer, report_id, action, field(form, "note", max_chars=2000))
    return redirect(f"/admin/moderation?saved={action}")


async def audit_page(request: web.Request) -> web.Response:
    await require_admin(request)
    page = _page_number(request)
    entries, more = await audit.list_entries(request.app[SERVICES].pool, page)
    return await _render(request, "platform/admin_audit.html", {"entries": entries, "page": page, "more": more})


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", overview_page)
    app.router.add_get("/admin/users", users_page)
    app.router.add_get("/admin/users/{user_id}", user_page)
    app.router.add_post("/admin/users/{user_id}/{action:suspend|unsuspend|tier}", user_action)
    app.router.add_get("/admin/moderation", moderation_page)
    app.router.add_post("/admin/moderation/{report_id}/{action:resolve|dismiss|unpublish|suspend}", moderation_action)
    app.router.add_get("/admin/audit", audit_page)
    app.router.add_get("/admin/waitlist", waitlist_page)
    app.router.add_post("/admin/waves", open_wave)
