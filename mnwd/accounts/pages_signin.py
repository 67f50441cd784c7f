"""Pages: sign up, sign in with a password, sign out."""

from __future__ import annotations

import uuid

from aiohttp import web

from mnwd.accounts.errors import AccountLocked, AccountSuspended, InvalidCredentials
from mnwd.accounts.passkeys import host_problem
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from mnwd.accounts.sessions import end_session, get_viewer, start_session
from mnwd.accounts.signin import check_password, rehash_if_outdated
from mnwd.accounts.users import sign_up
from mnwd.errors import TooManyRequests, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.browser import load_state, save_state
from mnwd.web.client_address import client_address
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render, safe_next

__all__ = ["PENDING_2FA_SECONDS", "begin_second_factor", "finish_sign_in", "setup"]

SIGNUP_PER_IP = Limit("signup:ip", 10, 3600, "Too many accounts created from your network. Try again later.")
PENDING_2FA_SECONDS = 300
DEFAULT_AFTER_SIGN_IN = "/settings"


def _password_rules() -> dict[str, int]:
    return {"min_password": MIN_PASSWORD_CHARS, "max_password": MAX_PASSWORD_CHARS}


async def signup_page(request: web.Request) -> web.Response:
    if await get_viewer(request) is not None:
        return redirect(DEFAULT_AFTER_SIGN_IN)
    invite = request.query.get("invite", "")[:100]
    context = {"username": "", "email": "", "invite": invite, **_password_rules()}
    return await render(request, "accounts/signup.html", context)


async def signup(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await read_form(request)
    username, email = field(form, "username", max_chars=100), field(form, "email", max_chars=300)
    password = field(form, "password", max_chars=MAX_PASSWORD_CHARS)
    context = {
        "username": username,
        "email": email,
        "invite": field(form, "invite", max_chars=100),
        **_password_rules(),
    }
    try:
        await services.limiter.hit(SIGNUP_PER_IP, client_address(request) or "")
        user_id = await sign_up(
            services,
            username=username,
            email=email,
            password=password,
            password_confirm=field(form, "password_confirm", max_chars=MAX_PASSWORD_CHARS),
            extras={"invite": field(form, "invite", max_chars=100)},
        )
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, "accounts/signup.html", problem, context)
    if user_id is None:
        # The address has an account: its owner was mailed; this page must not tell anyone else.
        return await render(request, "accounts/signup_check_mail.html", {"email": email.strip()})
    await start_session(request, user_id, signed_in_by="signup")
    return redirect("/settings?saved=signed-up")


def _passkey_context(request: web.Request) -> dict[str, str | None]:
    """Why a passkey cannot sign in from this page's address (the browser would only say "invalid domain")."""
    return {"passkey_problem": host_problem(request.app[SERVICES], request.host, "/login")}


async def login_page(request: web.Request) -> web.Response:
    next_url = safe_next(request.query.get("next"), DEFAULT_AFTER_SIGN_IN)
    if await get_viewer(request) is not None:
        return redirect(next_url)
    return await render(request, "accounts/login.html", {"login": "", "next": next_url, **_passkey_context(request)})


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await read_form(request)
    identifier = field(form, "login", max_chars=300)
    next_url = safe_next(field(form, "next"), DEFAULT_AFTER_SIGN_IN)
    context = {"login": identifier, "next": next_url, **_passkey_context(request)}
    password = field(form, "password", max_chars=10 * 1024)
    try:
        user = await check_password(services, identifier, password, client_address(request) or "")
    except (InvalidCredentials, AccountLocked, AccountSuspended, TooManyRequests) as problem:
        return await render_problem(request, "accounts/login.html", problem, context)
    await rehash_if_outdated(services, user, password)
    if user["totp_enabled"]:
        return await begin_second_factor(request, user["id"], next_url)
    return await finish_sign_in(request, user["id"], next_url)


async def begin_second_factor(
    request: web.Request, user_id: uuid.UUID, next_url: str, *, signed_in_by: str = "password"
) -> web.Response:
    """The password (or link) was right; the account wants a code too. Remember who, briefly, in this browser
    only."""
    state = await load_state(request)
    state["pending_2fa"] = {
        "user_id": str(user_id),
        "until": request.app[SERVICES].clock.time() + PENDING_2FA_SECONDS,
        "next": next_url,
        "by": signed_in_by,
    }
    await save_state(request, state)
    return redirect("/login/2fa")


async def finish_sign_in(
    request: web.Request, user_id: uuid.UUID, next_url: str, *, signed_in_by: str = "password", proven: bool = True
) -> web.Response:
    await start_session(request, user_id, signed_in_by=signed_in_by, proven=proven)
    return redirect(safe_next(next_url, DEFAULT_AFTER_SIGN_IN))


async def logout(request: web.Request) -> web.Response:
    await end_session(request)
    return redirect("/login?signed_out=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/signup", signup_page)
    app.router.add_post("/signup", signup)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
