"""The creator's OTA panel on each app's dashboard page (`mnwd.apps.add_app_panel`): the releases with their
status, channel, rollout, counts and platforms, the server's public key for ``tauri.conf.json``; forms to
create that key, publish and yank (``POST /dashboard/apps/{app_id}/ota/...``, the app's creator only).

Builds on push (`mnwd.ota.builds`): the panel lists the newest builds; ``GET``/``POST
/dashboard/apps/{app_id}/ota/build`` shows and saves the configuration (shown again with its errors, 422);
``GET /dashboard/apps/{app_id}/ota/builds/{build}`` is a build's log, refreshing every 2 seconds while it runs."""

from __future__ import annotations

import uuid

from aiohttp import web
from markupsafe import Markup

from mnwd.accounts import require_viewer
from mnwd.apps import App, get_app
from mnwd.errors import NotFound, ValidationFailed
from mnwd.ota import builds, releases
from mnwd.web.forms import checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render, render_fragment
from mnwd.web.params import uuid_param

__all__ = ["ota_panel", "setup"]

NO_SUCH_APP = "There is no such app."


async def ota_panel(request: web.Request, app: App) -> Markup:
    services = request.app[SERVICES]
    found = await releases.list_releases(services.pool, app)
    public_key = await releases.public_key(services.pool, app)
    base = services.config.base_url.rstrip("/")
    config = await builds.get_build_config(services.pool, app)
    recent = [] if config is None else await builds.list_builds(services.pool, config, limit=10)
    return await render_fragment(
        request,
        "ota/panel.html",
        {
            "app": app,
            "releases": found,
            "public_key": public_key,
            "endpoint": f"{base}/ota/v1/{app.slug}",
            "build_config": config,
            "builds": recent,
        },
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


CONFIG_PAGE = "ota/build_config.html"


async def build_config_page(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    config = await builds.get_build_config(request.app[SERVICES].pool, app)
    if config is None:
        form = {
            "repo": "",
            "branch": "main",
            "build_command": "",
            "artifact_path": "dist",
            "targets": "",
            "enabled": True,
        }
    else:
        form = {
            "repo": config.repo,
            "branch": config.branch,
            "build_command": config.build_command,
            "artifact_path": config.artifact_path,
            "targets": "\n".join(config.targets),
            "enabled": config.enabled,
        }
    return await render(request, CONFIG_PAGE, {"app": app, "form": form, "error": None, "field_errors": {}})


async def save_build_config(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    posted = await read_form(request)
    form = {
        "repo": field(posted, "repo", max_chars=200),
        "branch": field(posted, "branch", max_chars=300),
        "build_command": field(posted, "build_command"),
        "artifact_path": field(posted, "artifact_path", max_chars=600),
        "targets": field(posted, "targets"),
        "enabled": checkbox(posted, "enabled"),
    }
    try:
        data = builds.check_config_input(
            str(form["repo"]),
            str(form["branch"]),
            str(form["build_command"]),
            str(form["artifact_path"]),
            str(form["targets"]).splitlines(),
            bool(form["enabled"]),
        )
        await builds.set_build_config(request.app[SERVICES], app, data)
    except ValidationFailed as problem:
        return await render_problem(request, CONFIG_PAGE, problem, {"app": app, "form": form})
    return redirect(f"/dashboard/apps/{app.id}#ota-builds")


async def build_page(request: web.Request) -> web.Response:
    app = await _owned_app(request)
    build_id: uuid.UUID = uuid_param(request, "build", "This app has no such build.")
    build = await builds.get_build(request.app[SERVICES].pool, app, build_id)
    response = await render(request, "ota/build.html", {"app": app, "build": build})
    response.headers["Cache-Control"] = "no-store"
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/apps/{app_id}/ota/build", build_config_page)
    app.router.add_post("/dashboard/apps/{app_id}/ota/build", save_build_config)
    app.router.add_get("/dashboard/apps/{app_id}/ota/builds/{build}", build_page)
    app.router.add_post("/dashboard/apps/{app_id}/ota/signing-key", create_key)
    app.router.add_post("/dashboard/apps/{app_id}/ota/releases/{version}/publish", publish)
    app.router.add_post("/dashboard/apps/{app_id}/ota/releases/{version}/yank", yank)
