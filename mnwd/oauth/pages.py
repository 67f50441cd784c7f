"""Pages: the authorization (consent) page, and the apps with access to your account."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiMapping

from mnwd.accounts import get_viewer, require_viewer
from mnwd.oauth import grants
from mnwd.oauth.authorize import PARAMETERS, approve, check_request, error_redirect, has_consent
from mnwd.oauth.errors import AuthorizeError
from mnwd.web.forms import read_form
from mnwd.web.keys import SERVICES
from mnwd.web.middleware import page_policy
from mnwd.web.pages import login_redirect, redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]


def _params(source: MultiMapping[str | object]) -> tuple[dict[str, str], dict[str, int]]:
    params: dict[str, str] = {}
    counts: dict[str, int] = {}
    for key in PARAMETERS:
        values = [v for v in source.getall(key, []) if isinstance(v, str)]
        if values:
            params[key] = values[0]
            counts[key] = len(values)
    return params, counts


async def _failed(request: web.Request, exc: AuthorizeError) -> web.Response:
    if exc.redirect_uri is None:
        return await render(request, "oauth/authorize_error.html", {"problem": exc}, status=400)
    base = request.app[SERVICES].config.base_url
    return redirect(error_redirect(exc.redirect_uri, exc.state, exc.error, exc.description, base))


async def authorize_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        checked = await check_request(services, *_params(request.query))
    except AuthorizeError as exc:
        return await _failed(request, exc)
    viewer = await get_viewer(request)
    if viewer is None:
        raise login_redirect(request)
    if await has_consent(services, viewer.user_id, checked):
        return redirect(await approve(services, viewer.user_id, checked))
    response = await render(request, "oauth/consent.html", {"authz": checked})
    # The consent form's answer redirects to the app: browsers hold form redirects to form-action too.
    response.headers["Content-Security-Policy"] = page_policy(f"'self' {redirect_source(checked.redirect_uri)}")
    return response


def redirect_source(uri: str) -> str:
    """The CSP source that admits redirects to ``uri``: its origin (any port for a loopback redirect, whose
    port the app picks), or its scheme for a native app's private-use scheme."""
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"}:
        return f"{parts.scheme}:"
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    port = ":*" if parts.scheme == "http" else (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{host}{port}"


async def authorize_decision(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    viewer = await require_viewer(request)
    form = await read_form(request)
    try:
        checked = await check_request(services, *_params(form))
    except AuthorizeError as exc:
        return await _failed(request, exc)
    if form.get("decision") != "allow":
        return redirect(
            error_redirect(
                checked.redirect_uri, checked.state, "access_denied", "The user declined.", services.config.base_url
            )
        )
    return redirect(await approve(services, viewer.user_id, checked))


async def authorized_apps_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    apps = await grants.list_authorized_apps(request.app[SERVICES], viewer.user_id)
    saved = "Access revoked." if request.query.get("saved") == "revoked" else None
    return await render(request, "oauth/authorized_apps.html", {"apps": apps, "saved": saved})


async def revoke_app(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    app_id = uuid_param(request, "app_id", grants.NO_ACCESS)
    await grants.revoke_app_access(request.app[SERVICES], viewer.user_id, app_id)
    return redirect("/settings/apps?saved=revoked")


def setup(app: web.Application) -> None:
    app.router.add_get("/oauth/authorize", authorize_page)
    app.router.add_post("/oauth/authorize", authorize_decision)
    app.router.add_get("/settings/apps", authorized_apps_page)
    app.router.add_post("/settings/apps/{app_id}/revoke", revoke_app)
