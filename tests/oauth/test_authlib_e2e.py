"""A real OAuth client (authlib) against `mnwd serve`, with a loopback redirect on a random port."""

from __future__ import annotations

import asyncio
from html import unescape

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support.accounts import PASSWORD, MakeUser
from tests.support.browser import CSRF_INPUT
from tests.support.daemon import RunningDaemon
from tests.support.oauth import FORM_FIELD, register_app

pytestmark = pytest.mark.e2e


async def start_callback_server() -> tuple[web.AppRunner, int, asyncio.Future[str]]:
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if not received.done():
            received.set_result(str(request.url))
        return web.Response(text="You can close this window.")

    app = web.Application()
    app.router.add_get("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1], received


async def consent_in_browser(base: str, authorization_url: str) -> None:
    """What the user does: sign in, then allow. The browser then follows the redirect to the app."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        login = await (await browser.get(f"{base}/login")).text()
        csrf = unescape(CSRF_INPUT.search(login).group(1))  # type: ignore[union-attr]
        signed_in = await browser.post(
            f"{base}/login", data={"login": "alice", "password": PASSWORD, "csrf_token": csrf}, allow_redirects=False
        )
        assert signed_in.status == 303
        consent = await browser.get(authorization_url)
        page = await consent.text()
        assert "Authorize Notes" in page
        form = {name: unescape(value) for name, value in FORM_FIELD.findall(page)}
        allowed = await browser.post(f"{base}/oauth/authorize", data={**form, "decision": "allow"})
        assert allowed.status == 200
        assert await allowed.text() == "You can close this window."


async def test_authlib_completes_the_flow_and_refreshes(
    daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    maker = await make_user("maker", can_create_projects=True)
    app = await register_app(pool, maker["id"])
    runner, port, received = await start_callback_server()
    base = daemon.base_url
    try:
        client = OAuth2Session(
            client_id=str(app.id),
            redirect_uri=f"http://127.0.0.1:{port}/callback",
            scope="sync",
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        verifier = generate_token(64)
        url, state = client.create_authorization_url(f"{base}/oauth/authorize", code_verifier=verifier)
        await consent_in_browser(base, url)
        callback_url = await asyncio.wait_for(received, 10)
        token = await asyncio.to_thread(
            client.fetch_token, f"{base}/oauth/token", authorization_response=callback_url, code_verifier=verifier
        )
        assert token["token_type"] == "Bearer"
        async with aiohttp.ClientSession() as http:
            me = await http.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
            assert (await me.json())["user"]["username"] == "alice"
            refreshed = await asyncio.to_thread(client.refresh_token, f"{base}/oauth/token")
            assert refreshed["access_token"] != token["access_token"]
            assert refreshed["refresh_token"] != token["refresh_token"]
            me = await http.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
            assert me.status == 200
        assert state in callback_url
    finally:
        await runner.cleanup()
