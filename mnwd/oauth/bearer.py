"""Authenticating API requests by their bearer token (RFC 6750): at most one query per request, none when the
token was checked recently (`mnwd.oauth.bearer_cache`).

- `require_bearer`: an app's OAuth access token (``mnwd_at_…``), as the per-app APIs (``/sync/v1``) need;
- `require_api_caller`: the JSON API (``/api/v1``), which also takes a user's personal access token
  (``mnwd_pat_…``, from `mnwd.accounts`), told apart by its prefix. Each endpoint names the scope it needs
  from `mnwd.accounts.TOKEN_SCOPES`: a personal token must carry it; an app's token is allowed only
  `APP_TOKEN_API_SCOPES` (the identity the sign-in already disclosed to the app).
- `require_api_user`: a creator's ``/api/v1`` endpoint, called with a token as above *or* from a signed-in
  browser page (the session cookie). Such handlers are `csrf_exempt` (a token is not something a browser
  sends by itself), so a session-authenticated request that changes state is CSRF-checked here instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web

from mnwd.accounts import TokenCaller, TokenRefused, check_token, get_viewer, is_personal_token, note_token_used
from mnwd.errors import Forbidden, Unauthorized
from mnwd.oauth import queries
from mnwd.oauth.bearer_cache import BEARERS
from mnwd.oauth.callers import ApiCaller, Bearer
from mnwd.tokens import hash_token
from mnwd.web.csrf import CSRF_HEADER, SAFE_METHODS, CsrfFailed, csrf_valid, from_another_site
from mnwd.web.keys import SERVICES

__all__ = [
    "APP_TOKEN_API_SCOPES",
    "ApiCaller",
    "ApiUser",
    "Bearer",
    "InvalidToken",
    "bearer_remembered",
    "bearer_still_valid",
    "recheck_bearer",
    "require_api_caller",
    "require_api_user",
    "require_bearer",
]

APP_TOKEN_API_SCOPES = frozenset({"user:read"})

BEARER_KEY = web.RequestKey("bearer", Bearer)


class InvalidToken(Unauthorized):
    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(detail, slug="invalid-token")
        challenge = 'Bearer realm="mnwd"'
        if error is not None:
            challenge += f', error="{error}", error_description="{detail}"'
        self.headers["WWW-Authenticate"] = challenge


class InsufficientScope(Forbidden):
    def __init__(self, scope: str) -> None:
        super().__init__(f"This token lacks the scope {scope!r}.", slug="insufficient-scope")
        self.headers["WWW-Authenticate"] = f'Bearer realm="mnwd", error="insufficient_scope", scope="{scope}"'


async def require_bearer(request: web.Request, *, scope: str | None = None) -> Bearer:
    if BEARER_KEY in request:
        bearer = request[BEARER_KEY]
    else:
        bearer = await _authenticate(request)
        request[BEARER_KEY] = bearer
    if scope is not None and scope not in bearer.scope:
        raise InsufficientScope(scope)
    return bearer


async def bearer_still_valid(request: web.Request) -> bool:
    """For long-lived responses (event streams): is the token still good? Remembered checks are forgotten on
    any revocation (`mnwd.oauth.bearer_cache`), so this costs a query only when nothing is remembered."""
    try:
        await _authenticate(request)
    except InvalidToken:
        return False
    return True


def bearer_remembered(request: web.Request) -> bool:
    """Without waiting: True when a remembered check says the request's token is still good; False when nothing
    is remembered (then ask `bearer_still_valid`). What is remembered is forgotten on every revocation."""
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer":
        return False
    return isinstance(request.app[SERVICES][BEARERS].get(hash_token(token.strip())), Bearer)


async def recheck_bearer(request: web.Request) -> Bearer:
    """After a long wait (a long poll): check the token again, raising the 401 it would get now. Cheap when
    the check is remembered."""
    return await _authenticate(request)


async def require_api_caller(request: web.Request, *, scope: str) -> ApiCaller:
    """The caller of a ``/api/v1`` endpoint, by an app's OAuth token or a personal access token, holding
    ``scope`` (403 insufficient-scope otherwise)."""
    token = _token(request)
    if not is_personal_token(token):
        bearer = await require_bearer(request)
        if scope not in APP_TOKEN_API_SCOPES:
            raise InsufficientScope(scope)
        return bearer
    caller = await _authenticate_personal(request, token)
    if scope not in caller.scope:
        raise InsufficientScope(scope)
    return caller


@dataclass(frozen=True)
class ApiUser:
    """The user a ``/api/v1`` request acts for, and whether it came with a token or a browser session."""

    user_id: uuid.UUID
    username: str
    by_session: bool


async def require_api_user(request: web.Request, *, scope: str) -> ApiUser:
    """The caller of a creator's ``/api/v1`` endpoint: a token holding ``scope`` (`require_api_caller`) or,
    with no ``Authorization`` header, the signed-in browser session, which may do anything its user may;
    an unsafe method from a session must pass the CSRF check (the ``X-CSRF-Token`` header)."""
    if "Authorization" in request.headers:
        caller = await require_api_caller(request, scope=scope)
        return ApiUser(caller.user_id, caller.username, by_session=False)
    viewer = await get_viewer(request)
    if viewer is None:
        raise InvalidToken("Sign in, or send an access token: Authorization: Bearer <token>.", error=None)
    if request.method not in SAFE_METHODS and (
        from_another_site(request) or not csrf_valid(request, request.headers.get(CSRF_HEADER))
    ):
        raise CsrfFailed()
    return ApiUser(viewer.user_id, viewer.username, by_session=True)


def _token(request: web.Request) -> str:
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise InvalidToken("Send an access token: Authorization: Bearer <token>.", error=None)
    return token.strip()


async def _authenticate_personal(request: web.Request, token: str) -> TokenCaller:
    services = request.app[SERVICES]
    cache = services[BEARERS]
    token_hash = hash_token(token)
    cached = cache.get(token_hash)
    if isinstance(cached, TokenCaller):
        caller = cached
    else:
        generation = cache.generation
        try:
            caller = await check_token(services, token)
        except TokenRefused as exc:
            raise InvalidToken(str(exc)) from None
        cache.put(token_hash, caller, generation)
    await note_token_used(services, caller)
    return caller


async def _authenticate(request: web.Request) -> Bearer:
    token = _token(request)
    if is_personal_token(token):
        raise InvalidToken("This API takes an app's OAuth access token; personal access tokens work on /api/v1.")
    token_hash = hash_token(token)
    services = request.app[SERVICES]
    cache = services[BEARERS]
    cached = cache.get(token_hash)
    if isinstance(cached, Bearer):
        return cached
    generation = cache.generation
    row = await queries.get_access_token(services.pool, token_hash)
    if row is None:
        raise InvalidToken("The access token is not valid.")
    if row["expired"]:
        raise InvalidToken("The access token has expired; use the refresh token.")
    if row["token_revoked_at"] is not None or row["grant_revoked_at"] is not None:
        raise InvalidToken("The access token was revoked.")
    if not row["is_active"]:
        raise InvalidToken("The app of this token is deactivated.")
    if row["suspended_at"] is not None:
        raise InvalidToken("The account of this token is suspended.")
    if row["device_revoked_at"] is not None:
        raise InvalidToken("The device of this token was revoked.")
    bearer = Bearer(
        user_id=row["user_id"],
        username=row["username"],
        display_name=row["display_name"],
        app_id=row["app_id"],
        app_name=row["app_name"],
        grant_id=row["grant_id"],
        device_id=row["device_id"],
        scope=frozenset(row["scope"].split()),
        expires_at=row["expires_at"],
    )
    cache.put(token_hash, bearer, generation)
    return bearer
