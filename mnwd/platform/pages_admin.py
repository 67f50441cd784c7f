"""The administration under ``/admin`` (users with ``is_admin``; anyone else gets 403 on every route): the
waitlist and its waves, users, the reports queue with its actions, platform stats and the audit log."""

from __future__ import annotations

import uuid

from aiohttp import web

from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.platform import waitlist
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render

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


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/waitlist", waitlist_page)
    app.router.add_post("/admin/waves", open_wave)
