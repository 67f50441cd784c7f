"""Handlers: the wrapped end-to-end key of ``/sync/v1/keys`` (GET, and PUT as compare-and-set)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from mnwd.errors import NotFound
from mnwd.sync import keys
from mnwd.sync.auth import sync_caller
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES

__all__ = ["KeyPut", "setup"]

NO_STORE = {"Cache-Control": "no-store"}
# Room for the longest key even when every character of it arrives as a \uXXXX escape.
MAX_BODY_BYTES = 6 * keys.MAX_ENCRYPTED_KEY_CHARS + 1024

Version = Annotated[int, msgspec.Meta(ge=1, le=keys.MAX_KEY_VERSION)]


class KeyPut(msgspec.Struct, forbid_unknown_fields=True):
    expected_version: Version | None
    key_version: Version
    encrypted_key: Annotated[str, msgspec.Meta(min_length=1, max_length=keys.MAX_ENCRYPTED_KEY_CHARS)]


def _key_json(key: keys.WrappedKey) -> dict[str, Any]:
    return {
        "key_version": key.key_version,
        "encrypted_key": key.encrypted_key,
        "updated_at": rfc3339(key.updated_at),
    }


async def get_key(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    key = await keys.get_key(request.app[SERVICES].pool, bearer.app_id, bearer.user_id)
    if key is None:
        raise NotFound("No key is stored for this app and user yet; create one with PUT and expected_version null.")
    return json_response(_key_json(key), headers=NO_STORE)


@csrf_exempt
async def put_key(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    body = await read_json(request, KeyPut, max_bytes=MAX_BODY_BYTES)
    key, created = await keys.put_key(
        request.app[SERVICES].pool,
        bearer.app_id,
        bearer.user_id,
        expected_version=body.expected_version,
        key_version=body.key_version,
        encrypted_key=body.encrypted_key,
    )
    return json_response(_key_json(key), status=201 if created else 200, headers=NO_STORE)


def setup(app: web.Application) -> None:
    app.router.add_get("/sync/v1/keys", get_key)
    app.router.add_put("/sync/v1/keys", put_key)
