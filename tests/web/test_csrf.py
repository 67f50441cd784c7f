"""The CSRF defence's second line: what the browser itself says of where a request comes from.

Each attack carries a valid CSRF token of the victim's session (as if the token had leaked), so only the
``Sec-Fetch-Site`` / ``Origin`` check can stop it.
"""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import MakeUser
from tests.support.browser import Browser
from tests.support.outbound import run_jobs


async def _post_profile(alice: Browser, headers: dict[str, str]) -> int:
    token = (await alice.get("/settings")).csrf
    response = await alice.client.post(
        "/settings/profile",
        data={"display_name": "pwned", "csrf_token": token},
        headers={**alice.headers, **headers},
        allow_redirects=False,
    )
    return response.status


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1.evil.example"},
    ],
    ids=["cross-site", "same-site", "other-origin", "lookalike-origin"],
)
async def test_a_form_from_another_site_is_refused_even_with_a_leaked_token(
    alice: Browser, pool: asyncpg.Pool, headers: dict[str, str]
) -> None:
    """Attack: a page elsewhere posts the victim's own form with a token it obtained."""
    assert await _post_profile(alice, headers) == 403
    assert await pool.fetchval("SELECT display_name FROM users WHERE username = 'alice'") is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {"Origin": "null"}],
    ids=["no-headers", "same-origin", "typed-url", "null-origin"],
)
async def test_the_sites_own_forms_still_work(alice: Browser, pool: asyncpg.Pool, headers: dict[str, str]) -> None:
    assert await _post_profile(alice, headers) == 303
    assert await pool.fetchval("SELECT display_name FROM users WHERE username = 'alice'") == "pwned"


async def test_the_origin_of_the_request_itself_is_accepted(alice: Browser, pool: asyncpg.Pool) -> None:
    """Behind the test client the site answers on its own host and port, not MNWD_PUBLIC_URL's."""
    origin = str(alice.client.make_url("/")).rstrip("/")
    assert await _post_profile(alice, {"Origin": origin}) == 303


async def _text_plain_post(browser: Browser, path: str) -> int:
    """What ``<form method=post enctype="text/plain" action=...>`` on another site sends: no form content type,
    no token, no ``SameSite=Lax`` cookie, and (from a browser that sends neither) no ``Sec-Fetch-Site`` or
    ``Origin``."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as elsewhere,
        elsewhere.post(
            browser.client.make_url(path),
            data=b"x=y",
            headers={**browser.headers, "Content-Type": "text/plain"},
            allow_redirects=False,
        ) as response,
    ):
        return response.status


async def test_login_csrf_through_a_text_plain_post_of_a_sign_in_link_is_refused(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    """Attack: mallory asks for a sign-in link to her own account and makes the victim's browser post it with
    ``enctype="text/plain"``; the victim would then work (and save secrets) in mallory's account."""
    await make_user("mallory")
    await browser.submit("/login/link", "/login/link", {"email": "mallory@example.org"})
    await run_jobs(services)
    body = read_outbox(config.data_dir / "outbox")[-1].get_body().get_content()
    path = next(line.strip() for line in body.splitlines() if "/login/link/" in line).removeprefix(config.base_url)
    assert await _text_plain_post(browser, path) == 403
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert await pool.fetchval("SELECT count(*) FROM login_tokens WHERE used_at IS NOT NULL") == 0
    assert (await browser.get("/settings", follow=False)).status == 303


async def test_logout_csrf_through_a_text_plain_post_is_refused(alice: Browser, pool: asyncpg.Pool) -> None:
    """Attack: another site signs the victim out (or, with a sign-in link, in as someone else) with a text/plain
    post to ``/logout``; the Lax cookie is not sent, so the request was not checked at all."""
    assert await _text_plain_post(alice, "/logout") == 403
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 1
    assert (await alice.get("/settings", follow=False)).status == 200
