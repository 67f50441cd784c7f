"""Pages: ask for a sign-in link, use it; confirm an email address."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import links
from mnwd.accounts.mail_requests import address_for_mail
from mnwd.accounts.pages_signin import DEFAULT_AFTER_SIGN_IN, begin_second_factor, finish_sign_in
from mnwd.accounts.sessions import require_viewer
from mnwd.errors import Gone, NotFound, TooManyRequests, ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.web.client_address import client_address
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render

__all__ = ["setup"]

LINKS_PER_IP = Limit("login-link:ip", 10, 900, "Too many sign-in links asked for from your network. Wait a bit.")
LINKS_PER_ADDRESS = Limit("login-link:email", 3, 900, "Too many sign-in links for this address. Wait a bit.")
VERIFY_PER_USER = Limit("verify-email:user", 3, 900, "Too many confirmation mails. Wait a bit.")


async def link_request_page(request: web.Request) -> web.Response:
    return await render(request, "accounts/link_request.html", {"email": ""})


async def request_link(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await read_form(request)
    raw = field(form, "email", max_chars=300)
    try:
        email = await address_for_mail(services, raw, client_address(request) or "", LINKS_PER_IP, LINKS_PER_ADDRESS)
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, "accounts/link_request.html", problem, {"email": raw})
    await links.queue_login_link(services, email)
    # The same answer whether or not the address has an account.
    return await render(request, "accounts/link_sent.html", {"email": email})


async def link_confirm_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        username = await links.describe(request.app[SERVICES], token, links.LOGIN)
    except (NotFound, Gone) as problem:
        return await render_problem(request, "accounts/link_confirm.html", problem, {"username": None})
    return await render(request, "accounts/link_confirm.html", {"username": username})


async def use_link(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        user_id = await links.redeem(services, request.match_info["token"], links.LOGIN)
    except (NotFound, Gone) as problem:
        return await render_problem(request, "accounts/link_confirm.html", problem, {"username": None})
    user = await links.get_signing_in_user(services, user_id)
    if user is None:
        return redirect("/login")
    if user["totp_enabled"]:
        return await begin_second_factor(request, user_id, DEFAULT_AFTER_SIGN_IN, signed_in_by="link")
    # The link is the proof for an account without a password; one with a password is asked for it again
    # before sensitive changes (`reauth`).
    proven = user["password_hash"] is None
    return await finish_sign_in(request, user_id, DEFAULT_AFTER_SIGN_IN, signed_in_by="link", proven=proven)


async def verify_confirm_page(request: web.Request) -> web.Response:
    try:
        username = await links.describe(request.app[SERVICES], request.match_info["token"], links.VERIFY_EMAIL)
    except (NotFound, Gone) as problem:
        return await render_problem(request, "accounts/verify_email.html", problem, {"username": None, "done": False})
    return await render(request, "accounts/verify_email.html", {"username": username, "done": False})


async def verify_email(request: web.Request) -> web.Response:
    try:
        await links.redeem(request.app[SERVICES], request.match_info["token"], links.VERIFY_EMAIL)
    except (NotFound, Gone) as problem:
        return await render_problem(request, "accounts/verify_email.html", problem, {"username": None, "done": False})
    return await render(request, "accounts/verify_email.html", {"username": None, "done": True})


async def resend_verification(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    if not viewer.email_verified:
        await services.limiter.hit(VERIFY_PER_USER, str(viewer.user_id))
        await links.queue_email_verification(services.pool, viewer.user_id)
        services.jobs.wake()
    return redirect("/settings?saved=verification")


def setup(app: web.Application) -> None:
    app.router.add_get("/login/link", link_request_page)
    app.router.add_post("/login/link", request_link)
    app.router.add_get("/login/link/{token}", link_confirm_page)
    app.router.add_post("/login/link/{token}", use_link)
    app.router.add_get("/verify-email/{token}", verify_confirm_page)
    app.router.add_post("/verify-email/{token}", verify_email)
    app.router.add_post("/settings/verify-email", resend_verification)
