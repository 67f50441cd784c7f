"""The creator's OTA panel on each app's dashboard page (`mnwd.apps.add_app_panel`): the releases with their
status, channel, rollout, counts and platforms, the server's public key for ``tauri.conf.json``; forms to
create that key, publish and yank (``POST /dashboard/apps/{app_id}/ota/...``, the app's creator only)."""

from __future__ import annotations

import uuid

from aiohttp import web
from markupsafe import Markup

from mnwd.accounts import require_viewer
from mnwd.apps import App, get_app
from mnwd.errors import NotFound
from mnwd.ota import releases
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render_fragment
from mnwd.web.params import uuid_param

__all__ = ["ota_panel", "setup"]

NO_SUCH_APP = "There is no such app."


async def ota_panel(request: web.Request, app: App) -> Markup:
    services = request.app[SERVICES]
    found = await releases.list_releases(services.pool, app)
    public_key = await releases.public_key(services.pool, app)
    base = services.config.base_url.rstrip("/")
    return await render_fragment(
        request,
        "ota/panel.html",
        {"app": app, "releases": found, "public_key": public_key, "endpoint": f"{base}/ota/v1/{app.slug}"},
    )


async def _owned_app(request: web.Request) -> App:
    viewer = await require_viewer(request)
    app_id: uuid.UUID = uuid_param(request, "app_id", NO_SUCH_APP)
    app = await get_app(request.app[SERVICES].pool, app_id)
    if app is None or app.creator_id != viewer.user_id:
        raise NotFound(NO_SUCH_APP)
    return app


def _back(app: App) -> web.Response:
    return redirect(f"/dashboard/apps/{app.id}#ota")


async def create_key(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    await releases.ensure_signing_key(request.app[SERVICES], app)
    return _back(app)


async def publish(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    await releases.publish(request.app[SERVICES], app, request.match_info["version"])
    return _back(app)


async def yank(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    await releases.yank(request.app[SERVICES], app, request.match_info["version"])
    return _back(app)


def setup(app: web.Application) -> None:
    app.router.add_post("/dashboard/apps/{app_id}/ota/signing-key", create_key)
    app.router.add_post("/dashboard/apps/{app_id}/ota/releases/{version}/publish", publish)
    app.router.add_post("/dashboard/apps/{app_id}/ota/releases/{version}/yank", yank)
