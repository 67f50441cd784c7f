"""Pages and JSON endpoints: manage passkeys in settings, sign in with a passkey.

The ceremonies are driven by ``static/passkeys.js``: it posts JSON with the ``X-CSRF-Token`` header, and
errors come back as problem+json.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mnwd.accounts import passkeys
from mnwd.accounts.pages_signin import DEFAULT_AFTER_SIGN_IN
from mnwd.accounts.sessions import Viewer, get_viewer, require_viewer, start_session
from mnwd.errors import NotFound, Unauthorized, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.body import json_response, read_json
from mnwd.web.browser import browser_state
from mnwd.web.client_address import client_address
from mnwd.web.csrf import CSRF_HEADER, CsrfFailed, csrf_valid
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation, safe_next
from mnwd.web.params import uuid_param

__all__ = ["setup"]

PAGE = "accounts/passkeys.html"
PASSKEY_OPTIONS_PER_IP = Limit("passkey-options:ip", 100, 300, "Too many passkey attempts. Wait a few minutes.")
PASSKEY_SIGN_IN_PER_IP = Limit("passkey-login:ip", 50, 300, "Too many passkey sign-ins. Wait a few minutes.")
SAVED_MESSAGES = {
    "added": "Passkey added.",
    "renamed": "Passkey renamed.",
    "deleted": "Passkey deleted.",
}


class NewPasskey(msgspec.Struct, forbid_unknown_fields=True):
    credential: dict[str, Any]
    name: str = ""
    # Who this is, asked again (`passkeys.confirm_owner`): the password, or a TOTP code without one.
    password: str = ""
    code: str = ""


class PasskeySignIn(msgspec.Struct, forbid_unknown_fields=True):
    credential: dict[str, Any]
    next: str = DEFAULT_AFTER_SIGN_IN


def _json(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


def _require_csrf_header(request: web.Request) -> None:
    """Also without a cookie yet (the middleware checks only requests that carry one): these start ceremonies."""
    if not csrf_valid(request, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()


async def _require_json_viewer(request: web.Request) -> Viewer:
    viewer = await get_viewer(request)
    if viewer is None:
        raise Unauthorized("Sign in to manage your passkeys.")
    return viewer


async def _render_page(request: web.Request, viewer: Viewer, problem: ValidationFailed | None = None) -> web.Response:
    context = {
        "passkeys": await passkeys.list_passkeys(request.app[SERVICES].pool, viewer.user_id),
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
        "max_name": passkeys.MAX_NAME_CHARS,
        "has_password": viewer.has_password,
        "totp_enabled": viewer.totp_enabled,
        "host_problem": passkeys.host_problem(request.app[SERVICES], request.host),
    }
    if problem is not None:
        return await render_problem(request, PAGE, problem, context)
    return await render(request, PAGE, context)


async def passkeys_page(request: web.Request) -> web.Response:
    return await _render_page(request, await require_viewer(request))


async def registration_options(request: web.Request) -> web.Response:
    _require_csrf_header(request)
    viewer = await _require_json_viewer(request)
    return _json(await passkeys.begin_registration(browser_state(request), request.app[SERVICES], viewer))


async def register(request: web.Request) -> web.Response:
    _require_csrf_header(request)
    viewer = await _require_json_viewer(request)
    body = await read_json(request, NewPasskey)
    services = request.app[SERVICES]
    await passkeys.confirm_owner(services, viewer, password=body.password, code=body.code)
    row = await passkeys.register_passkey(browser_state(request), services, viewer, body.name, body.credential)
    return json_response(
        {"id": str(row["id"]), "name": row["name"], "redirect": "/settings/passkeys?saved=added"}, status=201
    )


async def rename(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    passkey_id = uuid_param(request, "passkey_id", passkeys.NO_SUCH_PASSKEY)
    form = await read_form(request)
    try:
        await passkeys.rename_passkey(
            request.app[SERVICES].pool, viewer.user_id, passkey_id, field(form, "name", max_chars=200)
        )
    except ValidationFailed as problem:
        return await _render_page(request, viewer, problem)
    return redirect("/settings/passkeys?saved=renamed")


async def confirm_delete(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    passkey_id = uuid_param(request, "passkey_id", passkeys.NO_SUCH_PASSKEY)
    listed = await passkeys.list_passkeys(request.app[SERVICES].pool, viewer.user_id)
    passkey = next((p for p in listed if p["id"] == passkey_id), None)
    if passkey is None:
        raise NotFound(passkeys.NO_SUCH_PASSKEY)
    others = len(listed) - 1
    fallback = "your password" if viewer.has_password else "a sign-in link by mail"
    plural = "" if others == 1 else "s"
    consequence = (
        f"You can no longer sign in with it. You keep {others} other passkey{plural} and {fallback}."
        if others
        else f"It is your only passkey: you will sign in with {fallback}."
    )
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a passkey",
            question=f"Delete the passkey “{passkey['name']}”?",
            consequence=consequence + " The passkey also stays on your device until you remove it there.",
            button="Delete the passkey",
            cancel="/settings/passkeys",
        ),
    )


async def delete(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    passkey_id = uuid_param(request, "passkey_id", passkeys.NO_SUCH_PASSKEY)
    await passkeys.delete_passkey(request.app[SERVICES].pool, viewer.user_id, passkey_id)
    return redirect("/settings/passkeys?saved=deleted")


async def sign_in_options(request: web.Request) -> web.Response:
    _require_csrf_header(request)
    services = request.app[SERVICES]
    await services.limiter.hit(PASSKEY_OPTIONS_PER_IP, client_address(request) or "")
    return _json(await passkeys.begin_authentication(browser_state(request), services))


async def sign_in(request: web.Request) -> web.Response:
    _require_csrf_header(request)
    services = request.app[SERVICES]
    await services.limiter.hit(PASSKEY_SIGN_IN_PER_IP, client_address(request) or "")
    body = await read_json(request, PasskeySignIn)
    user_id = await passkeys.authenticate_passkey(browser_state(request), services, body.credential)
    # A passkey sign-in counts as both factors: no TOTP step follows it.
    await start_session(request, user_id, signed_in_by="passkey")
    return json_response({"redirect": safe_next(body.next, DEFAULT_AFTER_SIGN_IN)})


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/passkeys", passkeys_page)
    app.router.add_post("/settings/passkeys", register)
    app.router.add_post("/settings/passkeys/options", registration_options)
    app.router.add_post("/settings/passkeys/{passkey_id}/rename", rename)
    app.router.add_get("/settings/passkeys/{passkey_id}/delete", confirm_delete)
    app.router.add_post("/settings/passkeys/{passkey_id}/delete", delete)
    app.router.add_post("/login/passkey/options", sign_in_options)
    app.router.add_post("/login/passkey", sign_in)
