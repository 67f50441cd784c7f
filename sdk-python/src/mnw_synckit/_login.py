"""Signing in as a public client (docs/oauth.md): PKCE S256, a loopback redirect on a free port (RFC 8252),
the browser opened with `webbrowser` (or the address printed when there is none), the code exchanged once.

The loopback server answers only ``/callback`` with the ``state`` it made, once; anything else is 404, so
another page of the machine cannot feed it a code of its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import secrets
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from mnw_synckit._http import problem_of
from mnw_synckit._tokens import Tokens
from mnw_synckit.errors import LoginFailed, LoginRequired

__all__ = ["OpenUrl", "authorize", "open_in_browser", "revoke"]

OpenUrl = Callable[[str], Awaitable[None] | None]
CALLBACK_PATH = "/callback"
DONE_PAGE = "<!doctype html><title>Signed in</title><p>Signed in. You can close this window.</p>"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def open_in_browser(url: str) -> None:
    """Open ``url`` in the user's browser, or print it when no browser can be started."""
    if not webbrowser.open(url):
        print(f"Open this address to sign in:\n  {url}", file=sys.stderr)


async def authorize(
    session: aiohttp.ClientSession,
    base_url: str,
    client_id: str,
    *,
    open_url: OpenUrl = open_in_browser,
    scope: str = "sync",
    wait_seconds: float = 300.0,
) -> Tokens:
    """The whole flow: a loopback server, the browser, the redirect, the code exchange."""
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(24)
    received: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if request.query.get("state") != state or received.done():
            return web.Response(status=400, text="This sign-in is not the one the app is waiting for.")
        received.set_result(dict(request.query))
        return web.Response(text=DONE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get(CALLBACK_PATH, callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
            "state": state,
            "scope": scope,
        }
        opened = open_url(f"{base_url}/oauth/authorize?{urlencode(query)}")
        if inspect.isawaitable(opened):
            await opened
        try:
            params = await asyncio.wait_for(received, wait_seconds)
        except TimeoutError:
            raise LoginFailed(f"no answer from the browser within {wait_seconds:.0f} s") from None
    finally:
        await runner.cleanup()
    if "error" in params:
        raise LoginFailed(f"{params['error']}: {params.get('error_description', '')}")
    if "code" not in params:
        raise LoginFailed("the browser came back without a code")
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    async with session.post(f"{base_url}/oauth/token", data=form) as response:
        body = await problem_of(response)
        if response.status != 200 or body is None:
            raise LoginFailed(f"the code exchange was refused ({response.status}): {body}")
    return Tokens.from_response(body)


async def revoke(session: aiohttp.ClientSession, base_url: str, client_id: str, tokens: Tokens | None) -> None:
    """RFC 7009 on the refresh token: the whole sign-in ends, on this device only."""
    if tokens is None:
        raise LoginRequired("not signed in")
    form: dict[str, Any] = {"token": tokens.refresh_token, "token_type_hint": "refresh_token", "client_id": client_id}
    async with session.post(f"{base_url}/oauth/revoke", data=form) as response:
        if response.status != 200:
            raise LoginFailed(f"revocation refused ({response.status}): {await problem_of(response)}")
