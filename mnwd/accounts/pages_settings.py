"""Pages: account settings — profile, email preferences, password, active sessions."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import profile, reauth
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from mnwd.accounts.sessions import Viewer, require_viewer
from mnwd.errors import TooManyRequests, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.forms import checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
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
    viewer = await require_viewer(request)
    saved = SAVED_MESSAGES.get(request.query.get("saved", ""))
    if request.query.get("saved") == "signed-up" and not viewer.email_verified:
        saved = f"Your account is ready. Check your mail: we sent a link to {viewer.email} to confirm the address."
    return await render(request, "accounts/settings.html", {"saved": saved})


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
    await profile.save_display_name(request.app[SERVICES], viewer, display_name or None)
    return redirect("/settings?saved=profile")


async def save_notifications(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    prefs = {name: checkbox(form, name) for name in NOTIFY_FIELDS}
    await profile.save_mail_preferences(request.app[SERVICES], viewer, prefs)
    return redirect("/settings?saved=notifications")


def _password_context(request: web.Request, viewer: Viewer) -> dict[str, object]:
    return {
        "min_password": MIN_PASSWORD_CHARS,
        "max_password": MAX_PASSWORD_CHARS,
        "asks_current": viewer.has_password and not reauth.may_skip_old_password(request.app[SERVICES], viewer),
    }


async def password_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    return await render(request, "accounts/password.html", _password_context(request, viewer))


async def change_password(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    try:
        await services.limiter.hit(PASSWORD_CHANGE_PER_USER, str(viewer.user_id))
        await profile.change_password(
            services,
            viewer,
            current=field(form, "current_password", max_chars=MAX_PASSWORD_CHARS),
            new=field(form, "new_password", max_chars=MAX_PASSWORD_CHARS),
            confirm=field(form, "new_password_confirm", max_chars=MAX_PASSWORD_CHARS),
        )
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, "accounts/password.html", problem, _password_context(request, viewer))
    return redirect("/settings?saved=password")


async def sessions_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    sessions = await profile.list_sessions(request.app[SERVICES], viewer)
    saved = SAVED_MESSAGES.get(request.query.get("saved", ""))
    return await render(request, "accounts/sessions.html", {"sessions": sessions, "saved": saved})


async def revoke_session(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    session_id = uuid_param(request, "session_id", profile.NO_SUCH_SESSION)
    await profile.revoke_session(request.app[SERVICES], viewer, session_id)
    if session_id == viewer.session_id:
        return redirect("/login?signed_out=1")
    return redirect("/settings/sessions?saved=session")


async def confirm_revoke_other_sessions(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    others = len(await profile.list_sessions(request.app[SERVICES], viewer)) - 1
    return await render_confirmation(
        request,
        Confirmation(
            title="Sign out other sessions",
            question=f"Sign out your {others} other session{'' if others == 1 else 's'}?",
            consequence="Every browser but this one must sign in again. Apps you signed in to keep working.",
            button="Sign out all other sessions",
            cancel="/settings/sessions",
        ),
    )


async def revoke_other_sessions(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await profile.revoke_other_sessions(request.app[SERVICES], viewer)
    return redirect("/settings/sessions?saved=others")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings/profile", save_profile)
    app.router.add_post("/settings/notifications", save_notifications)
    app.router.add_get("/settings/password", password_page)
    app.router.add_post("/settings/password", change_password)
    app.router.add_get("/settings/sessions", sessions_page)
    app.router.add_get("/settings/sessions/revoke-others", confirm_revoke_other_sessions)
    app.router.add_post("/settings/sessions/revoke-others", revoke_other_sessions)
    app.router.add_post("/settings/sessions/{session_id}/revoke", revoke_session)
