"""Pages: two-factor settings (set up TOTP, backup codes, turn it off) and the code asked for at sign-in."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from aiohttp import web

from mnwd.accounts import backup_codes, reauth, totp
from mnwd.accounts.errors import AccountSuspended
from mnwd.accounts.pages_signin import DEFAULT_AFTER_SIGN_IN, finish_sign_in
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS
from mnwd.accounts.sessions import Viewer, require_viewer
from mnwd.errors import Conflict, Problem, TooManyRequests, ValidationFailed
from mnwd.web.browser import increment_state, load_state, pop_state, save_state
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render, safe_next

__all__ = ["MAX_WRONG_CODES", "PENDING_KEY", "SETUP_KEY", "setup"]

SETTINGS_TEMPLATE = "accounts/two_factor.html"
CHALLENGE_TEMPLATE = "accounts/two_factor_challenge.html"
SETUP_KEY = "totp_setup"
PENDING_KEY = "pending_2fa"
ATTEMPTS_FIELD = "attempts"
MAX_WRONG_CODES = 5
MAX_CODE_CHARS = 64
SHOWN_KEY = "backup_codes_shown"
CODES_PATH = "/settings/2fa/backup-codes"
USED_BACKUP_CODE = "backup-code-used"
LOW_CODES = 3
SAVED_MESSAGES = {"disabled": "Two-factor authentication is off, and your backup codes were deleted."}


def _no_store(response: web.Response) -> web.Response:
    """Pages that show a secret or backup codes must not linger in caches or history."""
    response.headers["Cache-Control"] = "no-store"
    return response


async def _count_unused(request: web.Request, viewer: Viewer) -> int:
    return await backup_codes.count_unused(request.app[SERVICES], viewer.user_id) if viewer.totp_enabled else 0


async def _status_context(request: web.Request, viewer: Viewer, failed: str | None = None) -> dict[str, Any]:
    unused = await _count_unused(request, viewer)
    return {"mode": "status", "enabled": viewer.totp_enabled, "unused_codes": unused, "failed": failed}


def _codes_left(unused: int) -> str:
    left = f"You signed in with a backup code. You have {unused} backup code{'' if unused == 1 else 's'} left."
    return left + (" Make new ones below before you run out." if unused <= LOW_CODES else "")


def _setup_context(viewer: Viewer, secret: str) -> dict[str, Any]:
    return {"mode": "setup", "enrolment": totp.enrolment(secret, viewer.username)}


def _codes_context(codes: list[str], *, just_enabled: bool) -> dict[str, Any]:
    return {"mode": "codes", "codes": codes, "just_enabled": just_enabled}


async def settings_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    context = await _status_context(request, viewer)
    saved = SAVED_MESSAGES.get(request.query.get("saved", ""))
    if request.query.get("saved") == USED_BACKUP_CODE:
        saved = _codes_left(context["unused_codes"])
    next_url = safe_next(request.query.get("next"), DEFAULT_AFTER_SIGN_IN)
    return await render(request, SETTINGS_TEMPLATE, {**context, "saved": saved, "continue_to": next_url})


async def start_setup(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    if viewer.totp_enabled:
        return redirect("/settings/2fa")
    secret = totp.new_secret()
    state = await load_state(request)
    state[SETUP_KEY] = totp.seal_pending_secret(
        request.app[SERVICES].keyring, viewer.user_id, secret, request.app[SERVICES].clock.time()
    )
    await save_state(request, state)
    return _no_store(await render(request, SETTINGS_TEMPLATE, _setup_context(viewer, secret)))


async def enable(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    state = await load_state(request)
    secret = totp.open_pending_secret(services.keyring, state.get(SETUP_KEY), viewer.user_id, services.clock.time())
    if secret is None:
        problem = ValidationFailed("The set-up expired or was not started in this browser. Start again.")
        return await render_problem(request, SETTINGS_TEMPLATE, problem, await _status_context(request, viewer))
    try:
        codes = await totp.enable(services, viewer.user_id, secret, field(form, "code", max_chars=MAX_CODE_CHARS))
    except ValidationFailed as problem:
        response = await render_problem(request, SETTINGS_TEMPLATE, problem, _setup_context(viewer, secret))
        return _no_store(response)
    except Conflict as problem:
        await _forget_setup(request, state)
        return await render_problem(request, SETTINGS_TEMPLATE, problem, await _status_context(request, viewer))
    state.pop(SETUP_KEY, None)
    return await _show_codes_once(request, viewer, state, codes, just_enabled=True)


async def _forget_setup(request: web.Request, state: dict[str, Any]) -> None:
    state.pop(SETUP_KEY, None)
    await save_state(request, state)


async def _show_codes_once(
    request: web.Request, viewer: Viewer, state: dict[str, Any], codes: list[str], *, just_enabled: bool
) -> web.Response:
    """Keep the new codes for the one GET that shows them: reloading that page does not post the form again."""
    services = request.app[SERVICES]
    state[SHOWN_KEY] = backup_codes.seal_codes_to_show(
        services.keyring, viewer.user_id, codes, services.clock.time(), just_enabled=just_enabled
    )
    await save_state(request, state)
    return redirect(CODES_PATH)


async def codes_page(request: web.Request) -> web.Response:
    """The new backup codes, once: the entry is taken out of the state as the page is made."""
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    shown = backup_codes.open_codes_to_show(
        services.keyring, await pop_state(request, SHOWN_KEY), viewer.user_id, services.clock.time()
    )
    if shown is None:
        context = {"mode": "codes-gone", "unused_codes": await _count_unused(request, viewer)}
        return _no_store(await render(request, SETTINGS_TEMPLATE, context))
    codes, just_enabled = shown
    return _no_store(await render(request, SETTINGS_TEMPLATE, _codes_context(codes, just_enabled=just_enabled)))


async def regenerate_backup_codes(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    try:
        if not viewer.totp_enabled:
            raise Conflict("Turn on two-factor authentication first.")
        await totp.confirm_owner(
            services,
            viewer.user_id,
            password=field(form, "password", max_chars=MAX_PASSWORD_CHARS),
            code=field(form, "code", max_chars=MAX_CODE_CHARS),
        )
    except (ValidationFailed, TooManyRequests, Conflict) as problem:
        context = await _status_context(request, viewer, failed="regenerate")
        return await render_problem(request, SETTINGS_TEMPLATE, problem, context)
    codes = await backup_codes.regenerate(services, viewer.user_id)
    return await _show_codes_once(request, viewer, await load_state(request), codes, just_enabled=False)


async def disable(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    if not viewer.totp_enabled:
        return redirect("/settings/2fa")
    try:
        await totp.confirm_owner(
            services,
            viewer.user_id,
            password=field(form, "password", max_chars=MAX_PASSWORD_CHARS),
            code=field(form, "code", max_chars=MAX_CODE_CHARS),
        )
    except (ValidationFailed, TooManyRequests) as problem:
        context = await _status_context(request, viewer, failed="disable")
        return await render_problem(request, SETTINGS_TEMPLATE, problem, context)
    await reauth.mark_recently_authenticated(services, viewer)
    await totp.disable(services, viewer.user_id)
    return redirect("/settings/2fa?saved=disabled")


def _pending_sign_in(state: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The sign-in waiting for its second factor in this browser (see `pages_signin.begin_second_factor`)."""
    pending = state.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    until = pending.get("until")
    if not isinstance(until, int | float) or until < now:
        return None
    try:
        uuid.UUID(str(pending.get("user_id")))
    except ValueError:
        return None
    return pending


async def _drop_pending(request: web.Request, state: dict[str, Any]) -> None:
    # Only this key, atomically: ``state`` may be stale (another request may have counted an attempt).
    if state.pop(PENDING_KEY, None) is not None:
        await pop_state(request, PENDING_KEY)


async def _abandon_sign_in(
    request: web.Request, state: dict[str, Any], pending: dict[str, Any], problem: Problem
) -> web.Response:
    """Forget the pending sign-in; the password must be entered again."""
    await _drop_pending(request, state)
    context = {"login": "", "next": str(pending.get("next") or DEFAULT_AFTER_SIGN_IN)}
    return await render_problem(request, "accounts/login.html", problem, context)


async def challenge_page(request: web.Request) -> web.Response:
    state = await load_state(request)
    if _pending_sign_in(state, request.app[SERVICES].clock.time()) is None:
        await _drop_pending(request, state)
        return redirect("/login")
    return await render(request, CHALLENGE_TEMPLATE)


async def answer_challenge(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    state = await load_state(request)
    pending = _pending_sign_in(state, request.app[SERVICES].clock.time())
    if pending is None:
        await _drop_pending(request, state)
        return redirect("/login")
    form = await read_form(request)
    text = (
        field(form, "code", max_chars=MAX_CODE_CHARS).strip()
        or field(form, "backup_code", max_chars=MAX_CODE_CHARS).strip()
    )
    user_id = uuid.UUID(pending["user_id"])
    attempts = 0
    try:
        if not text:
            raise ValidationFailed(
                "Enter a code.", errors=[{"field": "code", "message": "Enter the code your app shows."}]
            )
        # Counted in one UPDATE before the code is checked, like the password attempts: of many codes sent at
        # once, at most MAX_WRONG_CODES are checked.
        counted = await increment_state(request, PENDING_KEY, ATTEMPTS_FIELD)
        if counted is None:
            return redirect("/login")  # a concurrent answer ended the pending sign-in
        attempts = counted
        if attempts > MAX_WRONG_CODES:
            return await _abandon_sign_in(request, state, pending, totp.TooManyWrongCodes())
        used = await totp.pass_challenge(services, user_id, text)
    except totp.WrongCode as problem:
        if attempts >= MAX_WRONG_CODES:
            return await _abandon_sign_in(request, state, pending, totp.TooManyWrongCodes())
        return await render_problem(request, CHALLENGE_TEMPLATE, problem)
    except AccountSuspended as problem:
        return await _abandon_sign_in(request, state, pending, problem)
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, CHALLENGE_TEMPLATE, problem)
    next_url = str(pending.get("next") or DEFAULT_AFTER_SIGN_IN)
    if used == "backup-code":
        # Say how many are left before going on: the page links on to where the sign-in was going.
        next_url = f"/settings/2fa?saved={USED_BACKUP_CODE}&next={quote(next_url, safe='/')}"
    # start_session (in finish_sign_in) drops the transient state, the pending sign-in with it.
    by = "link" if pending.get("by") == "link" else "password"
    return await finish_sign_in(request, user_id, next_url, signed_in_by=by)


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/2fa", settings_page)
    app.router.add_post("/settings/2fa/setup", start_setup)
    app.router.add_post("/settings/2fa/enable", enable)
    app.router.add_get(CODES_PATH, codes_page)
    app.router.add_post(CODES_PATH, regenerate_backup_codes)
    app.router.add_post("/settings/2fa/disable", disable)
    app.router.add_get("/login/2fa", challenge_page)
    app.router.add_post("/login/2fa", answer_challenge)
