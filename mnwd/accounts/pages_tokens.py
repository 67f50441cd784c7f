"""Pages: personal access tokens in account settings — list, create, revoke.

A new token's secret is shown once, after a redirect (so reloading neither creates another token nor shows
the secret again): the POST keeps it encrypted in the browser's transient state, and the page that shows it
takes it out (`pop_state`, which only one request can win)."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import personal_tokens
from mnwd.accounts.sessions import Viewer, require_viewer
from mnwd.accounts.token_scopes import TOKEN_SCOPES
from mnwd.errors import ValidationFailed
from mnwd.web.browser import load_state, pop_state, save_state
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

EXPIRY_CHOICES = (("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never"))
DEFAULT_EXPIRY = "30"
SAVED_MESSAGES = {"revoked": "The token was revoked. It no longer works."}
NEW_TOKEN_KEY = "accounts.new_token"
NEW_TOKEN_PURPOSE = "accounts.new-token-shown-once"


def _context(request: web.Request, tokens: list[personal_tokens.PersonalToken], **extra: object) -> dict[str, object]:
    return {
        "tokens": tokens,
        "scopes": TOKEN_SCOPES,
        "expiry_choices": EXPIRY_CHOICES,
        "chosen_expiry": DEFAULT_EXPIRY,
        "chosen_scopes": (),
        "name": "",
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
        **extra,
    }


async def tokens_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    tokens = await personal_tokens.list_tokens(request.app[SERVICES], viewer.user_id)
    return await render(request, "accounts/tokens.html", _context(request, tokens))


async def require_recent_auth_for_token(request: web.Request, viewer: Viewer) -> None:
    """The one place where creating a token will ask for a recent re-authentication (password, passkey or
    TOTP): `require_recent_auth` goes here when it lands. Until then a signed-in session suffices."""


async def create_token(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await require_recent_auth_for_token(request, viewer)
    services = request.app[SERVICES]
    form = await read_form(request)
    name = field(form, "name", max_chars=personal_tokens.MAX_NAME_CHARS)
    scopes = [s for s in form.getall("scope", []) if isinstance(s, str)]
    expiry = field(form, "expires", max_chars=8)
    # A choice not offered becomes 0 days, which the domain refuses along with every other problem.
    expires_days = None if expiry == "never" else int(expiry) if expiry in dict(EXPIRY_CHOICES) else 0
    try:
        issued = await personal_tokens.create_token(
            services, viewer.user_id, name=name, scopes=scopes, expires_days=expires_days
        )
    except ValidationFailed as problem:
        tokens = await personal_tokens.list_tokens(services, viewer.user_id)
        context = _context(request, tokens, name=name, chosen_scopes=scopes, chosen_expiry=expiry, saved=None)
        return await render_problem(request, "accounts/tokens.html", problem, context)
    state = await load_state(request)
    state[NEW_TOKEN_KEY] = {
        "secret": services.keyring.encrypt(NEW_TOKEN_PURPOSE, issued.secret),
        "name": issued.token.name,
        "scopes": list(issued.token.scopes),
    }
    await save_state(request, state)
    return redirect("/settings/tokens/new")


async def new_token_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    shown = await pop_state(request, NEW_TOKEN_KEY)
    if not isinstance(shown, dict):
        return redirect("/settings/tokens")
    secret = request.app[SERVICES].keyring.decrypt(NEW_TOKEN_PURPOSE, shown["secret"])
    response = await render(
        request, "accounts/token_created.html", {"name": shown["name"], "scopes": shown["scopes"], "secret": secret}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def revoke_token(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    token_id = uuid_param(request, "token_id", personal_tokens.NO_SUCH_TOKEN)
    await personal_tokens.revoke_token(request.app[SERVICES], viewer.user_id, token_id)
    return redirect("/settings/tokens?saved=revoked")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/tokens", tokens_page)
    app.router.add_post("/settings/tokens", create_token)
    app.router.add_get("/settings/tokens/new", new_token_page)
    app.router.add_post("/settings/tokens/{token_id}/revoke", revoke_token)
