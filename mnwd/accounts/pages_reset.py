"""Pages: forgot password (ask for a reset link), and choose a new password with it."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import password_reset
from mnwd.accounts.mail_requests import address_for_mail
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from mnwd.errors import Gone, NotFound, TooManyRequests, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.client_address import client_address
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render

__all__ = ["setup"]

RESETS_PER_IP = Limit("password-reset:ip", 10, 900, "Too many reset links asked for from your network. Wait a bit.")
RESETS_PER_ADDRESS = Limit("password-reset:email", 3, 900, "Too many reset links for this address. Wait a bit.")
REQUEST_PAGE = "accounts/forgot_password.html"
RESET_PAGE = "accounts/reset_password.html"


async def forgot_page(request: web.Request) -> web.Response:
    return await render(request, REQUEST_PAGE, {"email": "", "sent": False})


async def request_reset(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await read_form(request)
    raw = field(form, "email", max_chars=300)
    try:
        email = await address_for_mail(services, raw, client_address(request) or "", RESETS_PER_IP, RESETS_PER_ADDRESS)
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, REQUEST_PAGE, problem, {"email": raw, "sent": False})
    await password_reset.queue_reset(services, email)
    # The same answer whether or not the address has an account.
    return await render(request, REQUEST_PAGE, {"email": email, "sent": True})


def _rules() -> dict[str, object]:
    return {"min_password": MIN_PASSWORD_CHARS, "max_password": MAX_PASSWORD_CHARS}


async def reset_page(request: web.Request) -> web.Response:
    try:
        username = await password_reset.describe_reset(request.app[SERVICES], request.match_info["token"])
    except (NotFound, Gone) as problem:
        return _no_referrer(
            await render_problem(request, RESET_PAGE, problem, {"username": None, "done": False, **_rules()})
        )
    return _no_referrer(await render(request, RESET_PAGE, {"username": username, "done": False, **_rules()}))


async def reset(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    form = await read_form(request)
    try:
        await password_reset.reset_password(
            services,
            token,
            new=field(form, "new_password", max_chars=MAX_PASSWORD_CHARS),
            confirm=field(form, "new_password_confirm", max_chars=MAX_PASSWORD_CHARS),
        )
    except ValidationFailed as problem:
        username = await password_reset.describe_reset(services, token)
        context = {"username": username, "done": False, **_rules()}
        return _no_referrer(await render_problem(request, RESET_PAGE, problem, context))
    except (NotFound, Gone) as problem:
        return _no_referrer(
            await render_problem(request, RESET_PAGE, problem, {"username": None, "done": False, **_rules()})
        )
    return await render(request, RESET_PAGE, {"username": None, "done": True, **_rules()})


def _no_referrer(response: web.Response) -> web.Response:
    """The token is in this page's address: links off it must not carry it in ``Referer``."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/login/forgot", forgot_page)
    app.router.add_post("/login/forgot", request_reset)
    app.router.add_get("/login/reset/{token}", reset_page)
    app.router.add_post("/login/reset/{token}", reset)
