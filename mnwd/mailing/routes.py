"""Mailing lists over HTTP: the creators' JSON API, and the public signup, confirm and unsubscribe endpoints.

Creators' API (`require_api_user`: a token holding ``lists:read``/``lists:write``, or the session with its CSRF
header): ``GET|POST /api/v1/projects/{project_id}/lists`` (``{name, list_type?}`` → 201 ``{id, name,
list_type}``). Another creator's project is answered 404.

Public, no account: ``POST /api/v1/lists/{list_id}/subscribe`` ``{email}`` → always ``202`` (new, pending,
confirmed, unsubscribed or suppressed alike; only a malformed address is 422 and too many signups from one
client 429); ``POST /lists/{list_id}/subscribe`` is the same for an HTML form, also from another site (the
embeddable snippet), so it is CSRF-exempt: it can do no more than mail a confirmation link.
``POST /lists/{list_id}/join`` subscribes the signed-in user (CSRF-checked, so no other site can subscribe
them).

``/lists/confirm/{token}``: GET shows a button, POST confirms. ``/lists/unsubscribe/{token}``: GET shows a
button, POST unsubscribes, with or without cookies (RFC 8058 one-click: a mail provider posts
``List-Unsubscribe=One-Click`` to it), so it is CSRF-exempt; the signed token is the credential.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.errors import ValidationFailed
from mnwd.mailing import lists
from mnwd.oauth import require_api_user
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import field, read_form
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

READ = "lists:read"
WRITE = "lists:write"
MAX_BODY_BYTES = 4096


class ListBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    list_type: str | None = None


class SubscribeBody(msgspec.Struct, forbid_unknown_fields=True):
    email: str


def _list_document(row: object) -> dict[str, object]:
    assert hasattr(row, "__getitem__")
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "list_type": row["list_type"],
        "subscribers": {"confirmed": row["confirmed"], "pending": row["pending"], "unsubscribed": row["unsubscribed"]},
    }


async def list_lists(request: web.Request) -> web.Response:
    project_id = uuid_param(request, "project_id", lists.NO_SUCH_PROJECT)
    caller = await require_api_user(request, scope=READ)
    services = request.app[SERVICES]
    found = await lists.lists_of_project(services, caller.user_id, project_id)
    return json_response({"lists": [_list_document(row) for row in found]})


@csrf_exempt
async def create_list(request: web.Request) -> web.Response:
    project_id = uuid_param(request, "project_id", lists.NO_SUCH_PROJECT)
    caller = await require_api_user(request, scope=WRITE)
    body = await read_json(request, ListBody, max_bytes=MAX_BODY_BYTES)
    services = request.app[SERVICES]
    list_id = await lists.create_list(services, caller.user_id, project_id, body.name, body.list_type)
    created = await lists.require_owned_list(services.pool, caller.user_id, list_id)
    return json_response(
        {"id": str(list_id), "name": created["name"], "list_type": created["list_type"]},
        status=201,
        headers={"Location": f"/api/v1/lists/{list_id}"},
    )


def _client(request: web.Request) -> str:
    return request.remote or ""


@csrf_exempt
async def api_subscribe(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    body = await read_json(request, SubscribeBody, max_bytes=MAX_BODY_BYTES)
    await lists.subscribe(request.app[SERVICES], list_id, body.email, client=_client(request))
    return json_response(
        {"status": "accepted", "detail": "If the address can receive this list, a confirmation link was mailed to it."},
        status=202,
    )


@csrf_exempt
async def form_subscribe(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    form = await read_form(request)
    email = field(form, "email", max_chars=lists.MAX_EMAIL_CHARS)
    services = request.app[SERVICES]
    try:
        await lists.subscribe(services, list_id, email, client=_client(request))
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
    add.add_get("/api/v1/projects/{project_id}/lists", list_lists)
    add.add_post("/api/v1/projects/{project_id}/lists", create_list)
    add.add_post("/api/v1/lists/{list_id}/subscribe", api_subscribe)
    add.add_get("/lists/{list_id}/subscribe", signup_page)
    add.add_post("/lists/{list_id}/subscribe", form_subscribe)
    add.add_post("/lists/{list_id}/join", join)
    add.add_get("/lists/confirm/{token}", confirm_page)
    add.add_post("/lists/confirm/{token}", confirm)
    add.add_get("/lists/unsubscribe/{token}", unsubscribe_page)
    add.add_post("/lists/unsubscribe/{token}", unsubscribe)
