from __future__ import annotations

import re

import asyncpg
from aiohttp.test_utils import TestClient

from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


async def second_browser(aiohttp_client: object, client: TestClient, user_agent: str) -> Browser:  # type: ignore[type-arg]
    other = await aiohttp_client(client.server)  # type: ignore[operator]
    return Browser(other, user_agent=user_agent)


async def test_sessions_page_lists_devices_and_signs_one_out(
    browser: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,  # type: ignore[type-arg]
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    phone = await second_browser(aiohttp_client, client, CHROME)
    await sign_in(phone, "alice")
    page = await browser.get("/settings/sessions")
    assert page.has("Firefox on Linux")
    assert page.has("Chrome on Windows")
    assert page.has("this browser")
    assert page.has("127.0.0.1")
    ids = re.findall(r'data-session-id="([0-9a-f-]+)"', page.text)
    assert len(ids) == 2
    chrome_row = re.search(r'data-session-id="([0-9a-f-]+)">\s*<td>Chrome', page.text)
    assert chrome_row is not None
    signed_out = await browser.post(f"/settings/sessions/{chrome_row.group(1)}/revoke", {"csrf_token": page.csrf})
    assert signed_out.location == "/settings/sessions?saved=session"
    assert (await phone.get("/settings", follow=False)).status == 303
    assert (await browser.get("/settings")).status == 200


async def test_sign_out_all_others(
    browser: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    others = [await second_browser(aiohttp_client, client, CHROME) for _ in range(2)]
    for other in others:
        await sign_in(other, "alice")
    listing = await browser.get("/settings/sessions")
    assert listing.has('href="/settings/sessions/revoke-others"')
    question = await browser.get("/settings/sessions/revoke-others")
    assert question.has("Sign out your 2 other sessions?")
    assert question.has('<form method="post" action="/settings/sessions/revoke-others"')
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 3
    page = await browser.post("/settings/sessions/revoke-others", {"csrf_token": question.csrf})
    assert page.location == "/settings/sessions?saved=others"
    for other in others:
        assert (await other.get("/settings", follow=False)).status == 303
    assert (await browser.get("/settings")).status == 200
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 1


async def test_someone_elses_session_is_not_found(
    browser: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    await make_user("alice")
    await make_user("bob")
    bob = await second_browser(aiohttp_client, client, CHROME)
    await sign_in(bob, "bob")
    await sign_in(browser, "alice")
    bob_session = await pool.fetchval(
        "SELECT s.id FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'bob'"
    )
    page = await browser.submit("/settings/sessions", f"/settings/sessions/{bob_session}/revoke", {})
    assert page.status == 404
    page = await browser.submit("/settings/sessions", "/settings/sessions/not-a-uuid/revoke", {})
    assert page.status == 404
    assert (await bob.get("/settings")).status == 200


async def test_password_change_signs_out_other_sessions(
    browser: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,  # type: ignore[type-arg]
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    other = await second_browser(aiohttp_client, client, CHROME)
    await sign_in(other, "alice")
    new = "a brand new passphrase"
    page = await browser.submit(
        "/settings/password",
        "/settings/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_confirm": new},
    )
    assert page.location == "/settings?saved=password"
    assert (await browser.get(page.location)).has("Password changed")
    assert (await other.get("/settings", follow=False)).status == 303
    await browser.submit("/settings", "/logout", {})
    await sign_in(browser, "alice", new)


async def test_password_change_refuses_bad_input(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    before = await pool.fetchval("SELECT password_hash FROM users")
    page = await browser.submit(
        "/settings/password",
        "/settings/password",
        {"current_password": "not my password", "new_password": "short", "new_password_confirm": "short"},
    )
    assert page.status == 422
    assert page.has("This is not your current password.")
    assert page.has("Use at least 10 characters.")
    assert await pool.fetchval("SELECT password_hash FROM users") == before


async def test_profile_and_email_preferences(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.submit("/settings", "/settings/profile", {"display_name": "Alice Liddell"})
    assert page.location == "/settings?saved=profile"
    page = await browser.submit("/settings", "/settings/notifications", {"notify_sale": "on", "notify_issues": "on"})
    assert page.location == "/settings?saved=notifications"
    row = await pool.fetchrow(
        "SELECT display_name, notify_sale, notify_follower, notify_release, notify_issues FROM users"
    )
    assert dict(row) == {
        "display_name": "Alice Liddell",
        "notify_sale": True,
        "notify_follower": False,
        "notify_release": False,
        "notify_issues": True,
    }
    settings = await browser.get("/settings")
    assert settings.has('value="Alice Liddell"')
    page = await browser.submit("/settings", "/settings/profile", {"display_name": "x" * 200})
    assert page.status == 422


async def test_settings_need_a_session(browser: Browser) -> None:
    for path in ("/settings", "/settings/password", "/settings/sessions"):
        page = await browser.get(path, follow=False)
        assert page.status == 303
        assert page.location == f"/login?next={path}"
