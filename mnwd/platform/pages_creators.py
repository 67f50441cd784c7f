"""Pages for people who want to create: ``/creators/join`` (ask to become a creator: public, the form for
anyone signed in), ``/settings/invite`` (redeem an invite code with an account made without one) and
``/invites`` (a creator's or admin's invite codes)."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.platform import invites, waitlist
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render

__all__ = ["setup"]


async def _join_context(request: web.Request) -> dict[str, object]:
    viewer = await get_viewer(request)
    entry = None if viewer is None else await waitlist.entry_for(request.app[SERVICES].pool, viewer.user_id)
    return {"entry": entry, "form": {}, "sent": request.query.get("sent") == "1"}


async def join_page(request: web.Request) -> web.Response:
    return await render(request, "platform/join.html", await _join_context(request))


async def join_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    values = {"pitch": field(form, "pitch", max_chars=4000), "portfolio_url": field(form, "portfolio_url")}
    try:
        await waitlist.ask_to_create(request.app[SERVICES].pool, viewer, values["pitch"], values["portfolio_url"])
    except (ValidationFailed, Conflict) as problem:
        context = {**await _join_context(request), "form": values}
        return await render_problem(request, "platform/join.html", problem, context)
    return redirect("/creators/join?sent=1")


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() and len(text) < 7 else default


async def invites_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    if not (viewer.can_create_projects or viewer.is_admin):
        raise Forbidden("Only creators and admins issue invite codes.")
    codes = await invites.list_codes(request.app[SERVICES].pool, viewer)
    return await render(request, "platform/invites.html", {"codes": codes, "form": {}})


async def invites_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    values = {
        "max_uses": field(form, "max_uses"),
        "expires_days": field(form, "expires_days"),
        "note": field(form, "note"),
    }
    services = request.app[SERVICES]
    try:
        await invites.issue_code(
            services, viewer, _int(values["max_uses"], 0), _int(values["expires_days"], 0), values["note"]
        )
    except (ValidationFailed, invites.InviteCodeLimit) as problem:
        context = {"codes": await invites.list_codes(services.pool, viewer), "form": values}
        return await render_problem(request, "platform/invites.html", problem, context)
    return redirect("/invites")


async def redeem_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    return await render(request, "platform/redeem.html", {"form": {}, "done": request.query.get("done") == "1"})


async def redeem_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    code = field(form, "invite", max_chars=200)
    try:
        await invites.redeem_for_user(request.app[SERVICES], viewer, code)
    except (ValidationFailed, Conflict) as problem:
        return await render_problem(request, "platform/redeem.html", problem, {"form": {"invite": code}, "done": False})
    return redirect("/settings/invite?done=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/creators/join", join_page)
    app.router.add_post("/creators/join", join_form)
    app.router.add_get("/invites", invites_page)
    app.router.add_post("/invites", invites_form)
    app.router.add_get("/settings/invite", redeem_page)
    app.router.add_post("/settings/invite", redeem_form)
