"""The JSON API, ``/api/v1``: called with an app's OAuth access token or a personal access token
(`mnwd.oauth.bearer.require_api_caller`); each endpoint names the scope it needs (docs/tokens.md)."""

from __future__ import annotations

from aiohttp import web

from mnwd.apps import list_creator_apps
from mnwd.oauth.bearer import require_api_caller
from mnwd.oauth.callers import Bearer
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response
from mnwd.web.keys import SERVICES

__all__ = ["setup"]


async def me(request: web.Request) -> web.Response:
    caller = await require_api_caller(request, scope="user:read")
    app = {"id": str(caller.app_id), "name": caller.app_name} if isinstance(caller, Bearer) else None
    return json_response(
        {
            "user": {"id": str(caller.user_id), "username": caller.username, "display_name": caller.display_name},
            "app": app,
            "scope": " ".join(sorted(caller.scope)),
            "expires_at": None if caller.expires_at is None else rfc3339(caller.expires_at),
        }
    )


async def apps(request: web.Request) -> web.Response:
    caller = await require_api_caller(request, scope="apps:read")
    found = await list_creator_apps(request.app[SERVICES].pool, caller.user_id)
    return json_response(
        {
            "apps": [
                {
                    "id": str(d.app.id),
                    "name": d.app.name,
                    "slug": d.app.slug,
                    "redirect_uris": list(d.app.redirect_uris),
                    "is_active": d.app.is_active,
                    "created_at": rfc3339(d.created_at),
                }
                for d in found
            ]
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/me", me)
    app.router.add_get("/api/v1/apps", apps)
