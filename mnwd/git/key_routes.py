"""The SSH key API, ``/api/v1/user/keys``: list (scope ``keys:read``), add and delete (``keys:write``), by
the signed-in session or a personal access token (`mnwd.oauth.require_api_user`)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from mnwd.git import keys
from mnwd.oauth import require_api_user
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
from mnwd.web.params import uuid_param

__all__ = ["setup"]

MAX_BODY_BYTES = 32 * 1024


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    public_key: str
    title: str = ""


def _key_json(key: keys.SshKey) -> dict[str, object]:
    return {
        "id": str(key.id),
        "title": key.title,
        "algorithm": key.algorithm,
        "fingerprint": key.fingerprint,
        "public_key": key.public_key,
        "created_at": rfc3339(key.created_at),
        "last_used_at": None if key.last_used_at is None else rfc3339(key.last_used_at),
    }


@csrf_exempt
async def list_keys(request: web.Request) -> web.Response:
    user = await require_api_user(request, scope="keys:read")
    found = await keys.list_keys(request.app[SERVICES], user.user_id)
    return json_response({"keys": [_key_json(k) for k in found]})


@csrf_exempt
async def add_key(request: web.Request) -> web.Response:
    user = await require_api_user(request, scope="keys:write")
    body = await read_json(request, NewKey, max_bytes=MAX_BODY_BYTES)
    key = await keys.add_key(request.app[SERVICES], user.user_id, body.public_key, body.title)
    return json_response(_key_json(key), status=201, headers={"Location": f"/api/v1/user/keys/{key.id}"})


@csrf_exempt
async def delete_key(request: web.Request) -> web.Response:
    user = await require_api_user(request, scope="keys:write")
    key_id = uuid_param(request, "key_id", keys.NO_SUCH_KEY)
    await keys.delete_key(request.app[SERVICES], user.user_id, key_id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/user/keys", list_keys)
    app.router.add_post("/api/v1/user/keys", add_key)
    app.router.add_delete("/api/v1/user/keys/{key_id}", delete_key)
