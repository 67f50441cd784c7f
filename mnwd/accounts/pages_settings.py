"""Pages: account settings — profile, email preferences, password, active sessions."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import queries
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PASSWORDS, password_problem
from mnwd.accounts.sessions import describe_user_agent, require_viewer
from mnwd.errors import NotFound, TooManyRequests, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.forms import checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

NOTIFY_FIELDS = ("notify_sale", "notify_follower", "notify_release", "notify_issues")
PASSWORD_CHANGE_PER_USER = Limit("password-change:user", 10, 900, "Too many attempts. Wait a few minutes.")
MAX_DISPLAY_NAME = 80
SAVED_MESSAGES = {
    "profile": "Profile saved.",
    "notifications": "Email preferences saved.",
    "password": "Password changed. Your other sessions were signed out.",
    "session": "That session was signed out.",
    "others": "All your other sessions were signed out.",
    "verification": "We sent you a confirmation mail.",
}


async def settings_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    return await render(
        request, "accounts/settings.html", {"saved": SAVED_MESSAGES.get(request.query.get("saved", ""))}
    )


async def save_profile(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    display_name = field(form, "display_name", max_chars=MAX_DISPLAY_NAME).strip()
    if len(display_name) > MAX_DISPLAY_NAME or any(ord(c) < 32 for c in display_name):
        problem = ValidationFailed(
            "The profile was not saved.",
            errors=[{"field": "display_name", "message": f"Use at most {MAX_DISPLAY_NAME} printable characters."}],
        )
        return await render_problem(request, "accounts/settings.html", problem, {"saved": None})
    await queries.update_display_name(request.app[SERVICES].pool, viewer.user_id, display_name or None)
    return redirect("/settings?saved=profile")


async def save_notifications(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    prefs = {name: checkbox(form, name) for name in NOTIFY_FIELDS}
    await queries.update_email_preferences(request.app[SERVICES].pool, viewer.user_id, prefs)
    return redirect("/settings?saved=notifications")


def _password_context() -> dict[str, int]:
    return {"min_password": MIN_PASSWORD_CHARS, "max_password": MAX_PASSWORD_CHARS}


async def password_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    return await render(request, "accounts/password.html", _password_context())


async def change_password(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    current = field(form, "current_password", max_chars=MAX_PASSWORD_CHARS)
    new = field(form, "new_password", max_chars=MAX_PASSWORD_CHARS)
    try:
        await services.limiter.hit(PASSWORD_CHANGE_PER_USER, str(viewer.user_id))
        user = await queries.get_user_by_id(services.pool, viewer.user_id)
        assert user is not None
        errors = []
        if user["password_hash"] is not None and not await services[PASSWORDS].verify(user["password_hash"], current):
            errors.append({"field": "current_password", "message": "This is not your current password."})
        if problem := password_problem(new, username=viewer.username, email=viewer.email):
            errors.append({"field": "new_password", "message": problem})
        elif new != field(form, "new_password_confirm", max_chars=MAX_PASSWORD_CHARS):
            errors.append({"field": "new_password_confirm", "message": "The two passwords differ."})
        if errors:
            raise ValidationFailed("The password was not changed.", errors=errors)
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, "accounts/password.html", problem, _password_context())
    await queries.update_password_hash(services.pool, viewer.user_id, await services[PASSWORDS].hash(new), changed=True)
    await queries.revoke_other_sessions(services.pool, viewer.user_id, keep=viewer.session_id)
    return redirect("/settings?saved=password")


async def sessions_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    rows = await queries.list_user_sessions(request.app[SERVICES].pool, viewer.user_id)
    sessions = [
        {**dict(row), **describe_user_agent(row["user_agent"]), "current": row["id"] == viewer.session_id}
        for row in rows
    ]
    saved = SAVED_MESSAGES.get(request.query.get("saved", ""))
    return await render(request, "accounts/sessions.html", {"sessions": sessions, "saved": saved})


async def revoke_session(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    session_id = uuid_param(request, "session_id", "There is no such session.")
    if not await queries.revoke_user_session(request.app[SERVICES].pool, viewer.user_id, session_id):
        raise NotFound("There is no such session.")
    if session_id == viewer.session_id:
        return redirect("/login?signed_out=1")
    return redirect("/settings/sessions?saved=session")


async def revoke_other_sessions(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await queries.revoke_other_sessions(request.app[SERVICES].pool, viewer.user_id, keep=viewer.session_id)
    return redirect("/settings/sessions?saved=others")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings/profile", save_profile)
    app.router.add_post("/settings/notifications", save_notifications)
    app.router.add_get("/settings/password", password_page)
    app.router.add_post("/settings/password", change_password)
    app.router.add_get("/settings/sessions", sessions_page)
    app.router.add_post("/settings/sessions/revoke-others", revoke_other_sessions)
    app.router.add_post("/settings/sessions/{session_id}/revoke", revoke_session)
