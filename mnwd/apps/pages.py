"""Pages: a creator's apps — register, edit, rotate the API key, deactivate and reactivate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mnwd.accounts import Viewer, require_viewer
from mnwd.apps import registry as apps
from mnwd.apps.panels import render_panels
from mnwd.apps.redirect_uris import MAX_REDIRECT_URI_CHARS, MAX_REDIRECT_URIS
from mnwd.errors import Forbidden, NotFound, ValidationFailed
from mnwd.web.forms import Form, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

# Room for one URI more than allowed, so too many is reported as that and not as "too long".
MAX_URIS_FIELD = (MAX_REDIRECT_URIS + 1) * (MAX_REDIRECT_URI_CHARS + 2)
NOT_A_CREATOR = "Only creators can register apps. Ask an administrator to let your account create projects."
NO_SUCH_APP = "There is no such app."
NO_STORE = {"Cache-Control": "no-store"}
SAVED_MESSAGES = {
    "saved": "The app was saved.",
    "deactivated": "The app is deactivated: no new sign-ins, and its tokens and API key stop working.",
    "activated": "The app is active again.",
}


def _require_registrar(viewer: Viewer) -> None:
    if not apps.can_register_apps(viewer):
        raise Forbidden(NOT_A_CREATOR)


async def _owned_app(request: web.Request, viewer: Viewer) -> apps.AppDetails:
    """The app in the path when the viewer registered it; any other id is not found (no existence leak)."""
    app_id = uuid_param(request, "app_id", NO_SUCH_APP)
    details = await apps.get_creator_app(request.app[SERVICES].pool, viewer.user_id, app_id)
    if details is None:
        raise NotFound(NO_SUCH_APP)
    return details


def _uris_field(form: Form, failed: str) -> tuple[str, list[str]]:
    """The text of the one-URI-a-line box, and its lines."""
    text = field(form, "redirect_uris", max_chars=MAX_URIS_FIELD)
    if len(text) > MAX_URIS_FIELD:
        message = f"Use at most {MAX_REDIRECT_URIS} redirect URIs."
        raise ValidationFailed(failed, errors=[{"field": "redirect_uris", "message": message}])
    return text, text.splitlines()


def _limits() -> dict[str, int]:
    return {"max_uris": MAX_REDIRECT_URIS, "max_name": apps.MAX_NAME_CHARS}


async def apps_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    listed = await apps.list_creator_apps(request.app[SERVICES].pool, viewer.user_id)
    return await render(request, "apps/apps.html", {"apps": listed, "can_register": apps.can_register_apps(viewer)})


async def new_app_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    _require_registrar(viewer)
    return await render(request, "apps/app_new.html", {"form": {}, **_limits()})


async def create_app(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    _require_registrar(viewer)
    form = await read_form(request)
    values: dict[str, Any] = {
        "name": field(form, "name"),
        "slug": field(form, "slug"),
        "project_id": field(form, "project_id"),
        "item_id": field(form, "item_id"),
        "redirect_uris": "",
    }
    try:
        values["redirect_uris"], uris = _uris_field(form, "The app was not registered.")
        issued = await apps.create_app(
            request.app[SERVICES].pool,
            creator_id=viewer.user_id,
            name=values["name"],
            slug=values["slug"],
            redirect_uris=uris,
            project_id=values["project_id"],
            item_id=values["item_id"],
        )
    except ValidationFailed as problem:
        return await render_problem(request, "apps/app_new.html", problem, {"form": values, **_limits()})
    response = await render(request, "apps/app_key.html", {"app": issued.app, "api_key": issued.api_key, "new": True})
    response.headers.update(NO_STORE)
    return response


async def _details_page(
    request: web.Request, details: apps.AppDetails, *, problem: ValidationFailed | None = None, form: Any = None
) -> web.Response:
    context = {
        "details": details,
        "app": details.app,
        "form": form or {"name": details.app.name, "redirect_uris": "\n".join(details.app.redirect_uris)},
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
        "panels": await render_panels(request, details.app),
        **_limits(),
    }
    if problem is not None:
        return await render_problem(request, "apps/app.html", problem, context)
    return await render(request, "apps/app.html", context)


async def app_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    return await _details_page(request, await _owned_app(request, viewer))


async def save_app(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    details = await _owned_app(request, viewer)
    form = await read_form(request)
    values: dict[str, Any] = {"name": field(form, "name"), "redirect_uris": ""}
    try:
        values["redirect_uris"], uris = _uris_field(form, "The app was not saved.")
        await apps.update_app(request.app[SERVICES].pool, details.app.id, name=values["name"], redirect_uris=uris)
    except ValidationFailed as problem:
        return await _details_page(request, details, problem=problem, form=values)
    return redirect(f"/dashboard/apps/{details.app.id}?saved=saved")


async def confirm_rotate_key(request: web.Request) -> web.Response:
    details = await _owned_app(request, await require_viewer(request))
    return await render_confirmation(
        request,
        Confirmation(
            title="Make a new API key",
            question=f"Make a new API key for {details.app.name}?",
            consequence=(
                f"The current key ({details.api_key_prefix}…) stops working at once: your servers that use it fail "
                "until they have the new one, which is shown only once. Sign-ins and the client id are not affected."
            ),
            button="Make a new API key",
            cancel=f"/dashboard/apps/{details.app.id}",
        ),
    )


async def confirm_deactivate_app(request: web.Request) -> web.Response:
    details = await _owned_app(request, await require_viewer(request))
    if not details.app.is_active:
        return redirect(f"/dashboard/apps/{details.app.id}")
    return await render_confirmation(
        request,
        Confirmation(
            title="Deactivate an app",
            question=f"Deactivate {details.app.name}?",
            consequence=(
                "Nobody can sign in to it, and its access tokens, refresh tokens and API key stop working at once, "
                "until you reactivate it. Its data, devices and settings are kept."
            ),
            button="Deactivate the app",
            cancel=f"/dashboard/apps/{details.app.id}",
        ),
    )


async def rotate_key(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    details = await _owned_app(request, viewer)
    issued = await apps.rotate_api_key(request.app[SERVICES].pool, details.app.id)
    response = await render(request, "apps/app_key.html", {"app": issued.app, "api_key": issued.api_key, "new": False})
    response.headers.update(NO_STORE)
    return response


async def deactivate_app(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    details = await _owned_app(request, viewer)
    await apps.change_active(request.app[SERVICES], details.app.id, False)
    return redirect(f"/dashboard/apps/{details.app.id}?saved=deactivated")


async def activate_app(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    details = await _owned_app(request, viewer)
    await apps.change_active(request.app[SERVICES], details.app.id, True)
    return redirect(f"/dashboard/apps/{details.app.id}?saved=activated")


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/apps", apps_page)
    app.router.add_post("/dashboard/apps", create_app)
    app.router.add_get("/dashboard/apps/new", new_app_page)
    app.router.add_get("/dashboard/apps/{app_id}", app_page)
    app.router.add_post("/dashboard/apps/{app_id}", save_app)
    app.router.add_get("/dashboard/apps/{app_id}/rotate-key", confirm_rotate_key)
    app.router.add_post("/dashboard/apps/{app_id}/rotate-key", rotate_key)
    app.router.add_get("/dashboard/apps/{app_id}/deactivate", confirm_deactivate_app)
    app.router.add_post("/dashboard/apps/{app_id}/deactivate", deactivate_app)
    app.router.add_post("/dashboard/apps/{app_id}/activate", activate_app)
