"""JSON endpoints: token, revocation, introspection, server metadata."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mnwd.oauth import tokens
from mnwd.oauth.authorize import SCOPES
from mnwd.oauth.errors import TokenError
from mnwd.ratelimit import Limit
from mnwd.web.body import json_response
from mnwd.web.client_address import client_address
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import RepeatedField, read_single_valued_form
from mnwd.web.keys import SERVICES

__all__ = ["setup"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_PER_IP = Limit("oauth-token:ip", 120, 60, "Too many token requests from your network.")
FORM = "application/x-www-form-urlencoded"


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(body, status=status, headers={**NO_STORE, **(headers or {})})


def _error(exc: TokenError) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="mnwd"'} if exc.status == 401 else None
    return _json({"error": exc.error, "error_description": exc.description}, exc.status, headers)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != FORM:
        raise TokenError("invalid_request", f"Send the parameters as {FORM}.")
    try:
        return await read_single_valued_form(request)
    except RepeatedField as exc:
        raise TokenError("invalid_request", str(exc)) from None


def _token_endpoint(
    action: Callable[[web.Request, dict[str, str]], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.Response:
        try:
            await request.app[SERVICES].limiter.hit(TOKEN_PER_IP, client_address(request) or "")
            return await action(request, await _form(request))
        except TokenError as exc:
            return _error(exc)

    return csrf_exempt(handler)


async def _token(request: web.Request, form: dict[str, str]) -> web.Response:
    services = request.app[SERVICES]
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        issued = await tokens.exchange_code(services, form)
    elif grant_type == "refresh_token":
        issued = await tokens.refresh(services, form)
    elif not grant_type:
        raise TokenError("invalid_request", "grant_type is required.")
    else:
        raise TokenError("unsupported_grant_type", "Use authorization_code or refresh_token.")
    return _json(issued.as_json())


async def _revoke(request: web.Request, form: dict[str, str]) -> web.Response:
    await tokens.revoke(request.app[SERVICES], form)
    return _json({})


def _api_key(request: web.Request, form: dict[str, str]) -> str | None:
    kind, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() == "bearer":
        return credentials.strip() or None
    if kind.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return form.get("client_secret")


async def _introspect(request: web.Request, form: dict[str, str]) -> web.Response:
    result = await tokens.introspect(request.app[SERVICES], _api_key(request, form), form.get("token"))
    return _json(result)


async def metadata(request: web.Request) -> web.Response:
    base = request.app[SERVICES].config.base_url
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(SCOPES),
            "authorization_response_iss_parameter_supported": True,
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/oauth/token", _token_endpoint(_token))
    app.router.add_post("/oauth/revoke", _token_endpoint(_revoke))
    app.router.add_post("/oauth/introspect", _token_endpoint(_introspect))
    app.router.add_get("/.well-known/oauth-authorization-server", metadata)
