"""Pages: the account itself: change the email address, export the data, delete the account.

Each asks for a recent authentication first (`reauth.require_recent_auth`), except the confirmation link of an
email change, which is its own proof (it was mailed to the new address).
"""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import deletion, email_change, export, reauth
from mnwd.accounts.sessions import end_session, require_viewer
from mnwd.errors import Conflict, Gone, NotFound, TooManyRequests, ValidationFailed
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render, wants_html

__all__ = ["setup"]

EMAIL_PAGE = "accounts/email_change.html"
EMAIL_CONFIRM_PAGE = "accounts/email_confirm.html"
DELETE_PAGE = "accounts/delete_account.html"


async def account_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    return await render(request, "accounts/account.html")


async def email_page(request: web.Request) -> web.Response:
    await reauth.require_recent_auth(request)
    return await render(request, EMAIL_PAGE, {"email": "", "sent_to": None})


async def request_email_change(request: web.Request) -> web.Response:
    viewer = await reauth.require_recent_auth(request, back="/settings/email")
    form = await read_form(request)
    raw = field(form, "email", max_chars=300)
    try:
        sent_to = await email_change.request_change(request.app[SERVICES], viewer, raw)
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, EMAIL_PAGE, problem, {"email": raw, "sent_to": None})
    return await render(request, EMAIL_PAGE, {"email": "", "sent_to": sent_to})


def _no_referrer(response: web.Response) -> web.Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def email_confirm_page(request: web.Request) -> web.Response:
    try:
        username, new_email = await email_change.describe_change(request.app[SERVICES], request.match_info["token"])
    except (NotFound, Gone) as problem:
        context = {"username": None, "new_email": None, "done": False}
        return _no_referrer(await render_problem(request, EMAIL_CONFIRM_PAGE, problem, context))
    found = {"username": username, "new_email": new_email, "done": False}
    return _no_referrer(await render(request, EMAIL_CONFIRM_PAGE, found))


async def confirm_email_change(request: web.Request) -> web.Response:
    try:
        new_email = await email_change.confirm_change(request.app[SERVICES], request.match_info["token"])
    except (NotFound, Gone, Conflict) as problem:
        context = {"username": None, "new_email": None, "done": False}
        return _no_referrer(await render_problem(request, EMAIL_CONFIRM_PAGE, problem, context))
    return await render(request, EMAIL_CONFIRM_PAGE, {"username": None, "new_email": new_email, "done": True})


async def export_data(request: web.Request) -> web.Response:
    viewer = await reauth.require_recent_auth(request)
    services = request.app[SERVICES]
    body = await export.export_account(services, viewer)
    filename = f"mnwd-{viewer.username}-{services.clock.now():%Y-%m-%d}.json"
    return web.Response(
        body=body,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def _delete_context(request: web.Request) -> dict[str, object]:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    return {
        "counts": await deletion.describe_deletion(services, viewer),
        "blockers": await deletion.dependents(services, viewer),
    }


async def delete_page(request: web.Request) -> web.Response:
    await reauth.require_recent_auth(request)
    return await render(request, DELETE_PAGE, await _delete_context(request))


async def delete_account(request: web.Request) -> web.Response:
    viewer = await reauth.require_recent_auth(request, back="/settings/delete")
    form = await read_form(request)
    try:
        await deletion.delete_account(
            request.app[SERVICES], viewer, confirm_username=field(form, "confirm_username", max_chars=100)
        )
    except (ValidationFailed, Conflict) as problem:
        if not wants_html(request):
            raise
        return await render_problem(request, DELETE_PAGE, problem, await _delete_context(request))
    await end_session(request)
    return await render(request, "accounts/account_deleted.html", {"username": viewer.username})


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/account", account_page)
    app.router.add_get("/settings/email", email_page)
    app.router.add_post("/settings/email", request_email_change)
    app.router.add_get("/settings/email/confirm/{token}", email_confirm_page)
    app.router.add_post("/settings/email/confirm/{token}", confirm_email_change)
    app.router.add_get("/settings/export", export_data)
    app.router.add_get("/settings/delete", delete_page)
    app.router.add_post("/settings/delete", delete_account)
