"""What a browser carries: the session cookie and transient state.

One cookie, ``mnwd_session``, holds a random token. Signed in, its SHA-256 is a ``user_sessions`` row
(`mnwd.accounts`); signed out or mid-login, it keys a ``web_sessions`` row of short-lived state (pending
2FA, WebAuthn challenges). `mnwd.web.csrf` derives the CSRF token from it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from mnwd.services import Services
from mnwd.tokens import new_token
from mnwd.web import queries
from mnwd.web.keys import SERVICES

__all__ = [
    "SESSION_COOKIE",
    "BrowserState",
    "browser_state",
    "browser_token",
    "cookie_middleware",
    "ensure_browser_token",
    "increment_state",
    "is_new_browser_token",
    "load_state",
    "pop_state",
    "rotate_browser_token",
    "save_state",
    "sweep_expired_states",
]

SESSION_COOKIE = "mnwd_session"
COOKIE_MAX_AGE = 30 * 24 * 3600
STATE_SECONDS = 3600
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
NEW_TOKEN_KEY = web.RequestKey("new_browser_token", str)


def browser_token(request: web.Request) -> str | None:
    new: str | None = request.get(NEW_TOKEN_KEY)
    if new is not None:
        return new
    token = request.cookies.get(SESSION_COOKIE, "")
    return token if TOKEN_PATTERN.fullmatch(token) else None


def ensure_browser_token(request: web.Request) -> str:
    token = browser_token(request)
    if token is None:
        token = rotate_browser_token(request)
    return token


def rotate_browser_token(request: web.Request) -> str:
    """A fresh token (set on the response by the cookie middleware); the old one is forgotten."""
    token = new_token()
    request[NEW_TOKEN_KEY] = token
    return token


def is_new_browser_token(request: web.Request) -> bool:
    """Whether this request's token was made while answering it (so no form can carry its CSRF token yet)."""
    return NEW_TOKEN_KEY in request


def secure_cookies(services: Services) -> bool:
    host = urlsplit(services.config.base_url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def set_cookie_if_new(request: web.Request, response: web.StreamResponse) -> None:
    token: str | None = request.get(NEW_TOKEN_KEY)
    if token is None or response.prepared:
        return
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request.app[SERVICES]),
    )


def _state_id(token: str) -> str:
    return hashlib.sha256(b"state:" + token.encode()).hexdigest()


async def load_state(request: web.Request) -> dict[str, Any]:
    token = browser_token(request)
    if token is None:
        return {}
    return await queries.get_web_session(request.app[SERVICES].pool, _state_id(token)) or {}


async def pop_state(request: web.Request, key: str) -> Any:
    """Take one entry out of the state; of two requests racing for it, only one gets it."""
    token = browser_token(request)
    if token is None:
        return None
    return await queries.pop_web_session_key(request.app[SERVICES].pool, _state_id(token), key)


async def increment_state(request: web.Request, key: str, field: str) -> int | None:
    """Count one more in ``state[key][field]`` atomically (a read-modify-write through `load_state` and
    `save_state` loses counts when requests race); None when ``state[key]`` is gone."""
    token = browser_token(request)
    if token is None:
        return None
    return await queries.update_web_session_counter(request.app[SERVICES].pool, _state_id(token), key, field)


async def save_state(request: web.Request, data: dict[str, Any]) -> None:
    token = ensure_browser_token(request)
    pool = request.app[SERVICES].pool
    if data:
        await queries.upsert_web_session(pool, _state_id(token), data, STATE_SECONDS)
    else:
        await queries.delete_web_session(pool, _state_id(token))


class BrowserState:
    """One browser's transient state, for domain logic that must not see the request (passkey challenges)."""

    def __init__(self, request: web.Request) -> None:
        self._request = request

    async def load(self) -> dict[str, Any]:
        return await load_state(self._request)

    async def save(self, data: dict[str, Any]) -> None:
        await save_state(self._request, data)

    async def pop(self, key: str) -> Any:
        return await pop_state(self._request, key)

    async def increment(self, key: str, field: str) -> int | None:
        return await increment_state(self._request, key, field)


def browser_state(request: web.Request) -> BrowserState:
    return BrowserState(request)


async def sweep_expired_states(pool: asyncpg.Pool) -> int:
    return await queries.delete_expired_states(pool)


@web.middleware
async def cookie_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets the cookie of a token made while answering (also on redirects and error pages)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        set_cookie_if_new(request, exc)
        raise
    set_cookie_if_new(request, response)
    return response
