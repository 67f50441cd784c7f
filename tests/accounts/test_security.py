from __future__ import annotations

import logging

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import HTML, Browser
from tests.support.outbound import run_jobs


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"login": "alice", "password": PASSWORD}),
        (
            "/signup",
            {"username": "mallory", "email": "m@example.org", "password": PASSWORD, "password_confirm": PASSWORD},
        ),
        ("/login/link", {"email": "alice@example.org"}),
    ],
)
async def test_forms_without_the_csrf_token_are_refused(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, path: str, data: dict[str, str]
) -> None:
    """Attack: a page elsewhere posts a form to us (login CSRF, sign-up in the victim's browser)."""
    await make_user("alice")
    await browser.get(path)
    page = await browser.post(path, data)
    assert page.status == 403
    assert page.has("security token is missing or out of date")
    page = await browser.post(path, {**data, "csrf_token": "forged"})
    assert page.status == 403
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert await pool.fetchval("SELECT count(*) FROM users") == 1


async def test_a_signed_in_form_needs_the_token_of_this_session(
    browser: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """Attack: reuse a CSRF token taken from another browser's page."""
    await make_user("alice")
    await make_user("mallory")
    mallory = Browser(await aiohttp_client(client.server))  # type: ignore[operator]
    await sign_in(mallory, "mallory")
    stolen = (await mallory.get("/settings")).csrf
    await sign_in(browser, "alice")
    page = await browser.post("/settings/profile", {"display_name": "pwned", "csrf_token": stolen})
    assert page.status == 403
    assert await pool.fetchval("SELECT display_name FROM users WHERE username = 'alice'") is None


async def test_the_token_from_before_sign_in_stops_working_after(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    old = (await browser.get("/login")).csrf
    await sign_in(browser, "alice")
    page = await browser.post("/settings/profile", {"display_name": "x", "csrf_token": old})
    assert page.status == 403


async def test_json_requests_with_the_cookie_need_the_header(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    response = await browser.client.post("/settings/profile", json={"display_name": "x"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"].endswith("/csrf-failed")


async def test_browsers_get_html_error_pages_and_programs_get_problems(client: TestClient) -> None:  # type: ignore[type-arg]
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status == 404
    assert page.content_type == "text/html"
    assert "There is nothing at this address." in await page.text()
    api = await client.get("/no/such/page")
    assert api.content_type == "application/problem+json"


async def test_no_secret_reaches_the_logs(
    browser: Browser, make_user: MakeUser, config: Config, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await make_user("alice")
    await sign_in(browser, "alice")
    await browser.submit("/settings", "/logout", {})
    await browser.submit("/login", "/login", {"login": "alice", "password": "a wrong guess 123"})
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    await run_jobs(services)
    mail = read_outbox(config.data_dir / "outbox")[-1].get_body().get_content()
    link = next(line.strip() for line in mail.splitlines() if "/login/link/" in line).removeprefix(config.base_url)
    token = link.rsplit("/", 1)[1]
    await browser.submit("/login", link, {})
    cookie = browser.cookie("mnwd_session")
    assert cookie
    secrets = [PASSWORD, "a wrong guess 123", token, cookie]
    # aiohttp's own access log belongs to the test server; `mnwd serve` runs without it (tests/test_daemon.py).
    logged = [str(r.__dict__) + r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    assert any("/login/link/***" in line for line in logged)
    for secret in secrets:
        assert not [line for line in logged if secret in line], f"{secret!r} was logged"
