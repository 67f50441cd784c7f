"""Reports over HTTP: ``/report`` (the form for an item, project, blog post or collection, for anyone signed
in) and the admins'
queue at ``/admin/reports`` with its resolve and dismiss buttons."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.store import reports
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

ACTIONS = {"resolve": "resolved", "dismiss": "dismissed"}
DECIDED = {"resolved": "The report is resolved.", "dismissed": "The report is dismissed."}


async def _form_context(request: web.Request, viewer: Viewer, target: reports.Target) -> dict[str, object]:
    pool = request.app[SERVICES].pool
    return {
        "target": await reports.get_target(pool, target, viewer.user_id),
        "open_report": await reports.get_open_report(pool, viewer.user_id, target),
        "reasons": reports.REASONS,
        "sent": request.query.get("sent") == "1",
    }


async def report_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    target = reports.parse_target(request.query.get("target_type", ""), request.query.get("target_id", ""))
    context = await _form_context(request, viewer, target)
    return await render(request, "store/report.html", {**context, "form": {}})


async def report_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    target = reports.parse_target(field(form, "target_type"), field(form, "target_id"))
    values = {"reason": field(form, "reason"), "details": field(form, "details", max_chars=reports.MAX_DETAILS_CHARS)}
    try:
        await reports.file_report(
            request.app[SERVICES].pool, viewer.user_id, target, values["reason"], values["details"]
        )
    except (ValidationFailed, Conflict) as problem:
        context = {**await _form_context(request, viewer, target), "form": values}
        return await render_problem(request, "store/report.html", problem, context)
    query = urlencode({"target_type": target.type, "target_id": str(target.id), "sent": "1"})
    return redirect(f"/report?{query}")


async def _admin(request: web.Request) -> Viewer:
    viewer = await require_viewer(request)
    if not viewer.is_admin:
        raise Forbidden("Only admins handle reports.")
    return viewer


async def queue_page(request: web.Request) -> web.Response:
    await _admin(request)
    pool = request.app[SERVICES].pool
    status = request.query.get("status", "open")
    status = status if status in reports.STATUSES else "open"
    raw_page = request.query.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 100_000 else 1
    listed, more = await reports.list_queue(pool, status, page)
    context = {
        "reports": listed,
        "status": status,
        "counts": await reports.count_by_status(pool),
        "page": page,
        "more": more,
        "saved": DECIDED.get(request.query.get("saved", "")),
    }
    response = await render(request, "store/admin_reports.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


async def decide_form(request: web.Request) -> web.Response:
    admin = await _admin(request)
    report_id = uuid_param(request, "report_id", "There is no such report.")
    outcome = ACTIONS[request.match_info["action"]]
    form = await read_form(request)
    await reports.decide(
        request.app[SERVICES].pool, admin.user_id, admin.is_admin, report_id, outcome, field(form, "note")
    )
    return redirect(f"/admin/reports?saved={outcome}")


def setup(app: web.Application) -> None:
    app.router.add_get("/report", report_page)
    app.router.add_post("/report", report_form)
    app.router.add_get("/admin/reports", queue_page)
    app.router.add_post("/admin/reports/{report_id}/{action:resolve|dismiss}", decide_form)
