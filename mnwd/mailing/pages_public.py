"""The pages a subscriber sees, no account needed (HTML, also for errors: people open them from a mail).

``GET /lists/{list_id}/subscribe`` shows the signup form; its ``POST`` is the same as the JSON API's subscribe
for an HTML form, also from another site (the embeddable snippet), so it is CSRF-exempt: it can do no more
than mail a confirmation link. ``POST /lists/{list_id}/join`` subscribes the signed-in user (CSRF-checked, so
no other site can subscribe them).

``/lists/confirm/{token}``: GET shows a button, POST confirms (a mail scanner's GET confirms nobody).
``/lists/unsubscribe/{token}``: GET shows a button, POST unsubscribes, with or without cookies (RFC 8058
one-click: a mail provider posts ``List-Unsubscribe=One-Click`` to it), so it is CSRF-exempt; the signed
token is the credential.
"""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.errors import ValidationFailed
from mnwd.mailing import lists
from mnwd.web.client_address import client_address
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import field, read_form
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render
from mnwd.web.params import uuid_param

__all__ = ["setup"]


@csrf_exempt
async def form_subscribe(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    form = await read_form(request)
    email = field(form, "email", max_chars=lists.MAX_EMAIL_CHARS)
    services = request.app[SERVICES]
    try:
        await lists.subscribe(services, list_id, email, client=client_address(request) or "")
    except ValidationFailed as problem:
        return await render(
            request, "mailing/signup_done.html", {"error": problem.detail, "list_id": list_id}, status=problem.status
        )
    return await render(request, "mailing/signup_done.html", {"error": None, "list_id": list_id}, status=202)


async def join(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    viewer = await require_viewer(request)
    await lists.subscribe_user(request.app[SERVICES], list_id, viewer.user_id)
    return await render(request, "mailing/signup_done.html", {"error": None, "list_id": list_id, "joined": True})


async def confirm_page(request: web.Request) -> web.Response:
    pending = await lists.find_confirmation(request.app[SERVICES], request.match_info["token"])
    return await render(
        request, "mailing/confirm.html", {"pending": pending, "done": False}, status=200 if pending else 404
    )


@csrf_exempt
async def confirm(request: web.Request) -> web.Response:
    # Exempt: the token in the path is the credential, and a confirmation page may be opened in another
    # browser than the one that signed up.
    done = await lists.confirm_subscription(request.app[SERVICES], request.match_info["token"])
    return await render(request, "mailing/confirm.html", {"pending": None, "done": done}, status=200 if done else 404)


async def unsubscribe_page(request: web.Request) -> web.Response:
    pending = await lists.find_unsubscription(request.app[SERVICES], request.match_info["token"])
    return await render(
        request, "mailing/unsubscribe.html", {"pending": pending, "done": False}, status=200 if pending else 404
    )


@csrf_exempt
async def unsubscribe(request: web.Request) -> web.Response:
    done = await lists.unsubscribe(request.app[SERVICES], request.match_info["token"])
    return await render(
        request, "mailing/unsubscribe.html", {"pending": None, "done": done}, status=200 if done else 404
    )


async def signup_page(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    found = await lists.public_list(request.app[SERVICES], list_id)
    viewer = await get_viewer(request)
    return await render(request, "mailing/signup.html", {"list": found, "signed_in": viewer is not None})


def setup(app: web.Application) -> None:
    add = app.router
    add.add_get("/lists/{list_id}/subscribe", signup_page)
    add.add_post("/lists/{list_id}/subscribe", form_subscribe)
    add.add_post("/lists/{list_id}/join", join)
    add.add_get("/lists/confirm/{token}", confirm_page)
    add.add_post("/lists/confirm/{token}", confirm)
    add.add_get("/lists/unsubscribe/{token}", unsubscribe_page)
    add.add_post("/lists/unsubscribe/{token}", unsubscribe)
