"""Mailing lists over JSON: the creators' API and the public subscribe endpoint (the HTML pages a subscriber
sees are in `mnwd.mailing.pages_public`).

Creators' API (`require_api_user`: a token holding ``lists:read``/``lists:write``, or the session with its CSRF
header): ``GET|POST /api/v1/projects/{project_id}/lists`` (``{name, list_type?}`` → 201 ``{id, name,
list_type}``). Another creator's project is answered 404.

Public, no account: ``POST /api/v1/lists/{list_id}/subscribe`` ``{email}`` → always ``202`` (new, pending,
confirmed, unsubscribed or suppressed alike; only a malformed address is 422 and too many signups from one
client 429); the same for an HTML form is ``POST /lists/{list_id}/subscribe`` (`mnwd.mailing.pages_public`).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from mnwd.mailing import lists
from mnwd.oauth import require_api_user
from mnwd.web.body import json_response, read_json
from mnwd.web.client_address import client_address
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
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
    return client_address(request) or ""


@csrf_exempt
async def api_subscribe(request: web.Request) -> web.Response:
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    body = await read_json(request, SubscribeBody, max_bytes=MAX_BODY_BYTES)
    await lists.subscribe(request.app[SERVICES], list_id, body.email, client=_client(request))
    return json_response(
        {"status": "accepted", "detail": "If the address can receive this list, a confirmation link was mailed to it."},
        status=202,
    )


def setup(app: web.Application) -> None:
    add = app.router
    add.add_get("/api/v1/projects/{project_id}/lists", list_lists)
    add.add_post("/api/v1/projects/{project_id}/lists", create_list)
    add.add_post("/api/v1/lists/{list_id}/subscribe", api_subscribe)
