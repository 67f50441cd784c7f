"""Re-authentication (`mnwd.accounts.reauth`): a recent password, passkey or TOTP proof before sensitive changes."""

from __future__ import annotations

import asyncpg
import pyotp
import pytest

from mnwd.accounts import totp
from mnwd.accounts.settings import AccountsSettings
from mnwd.config import Config, ConfigError
from mnwd.services import Services
from tests.accounts.test_links import last_link
from tests.accounts.test_passkeys import Authenticator, add_passkey, passkey_sign_in
from tests.accounts.test_two_factor import Clock
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser


async def make_stale(pool: asyncpg.Pool, minutes: int = 11) -> None:
    await pool.execute("UPDATE user_sessions SET reauthenticated_at = now() - make_interval(mins => $1)", minutes)


async def test_a_password_sign_in_counts_as_recent(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.get("/settings/delete", follow=False)
    assert page.status == 200
    assert page.has("Delete your account")


async def test_after_the_window_the_page_asks_again_and_comes_back(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool)
    page = await browser.get("/settings/delete", follow=False)
    assert page.status == 303
    assert page.location == "/settings/confirm?next=/settings/delete"
    wrong = await browser.submit(page.location, "/settings/confirm", {"password": "nope", "next": "/settings/delete"})
    assert wrong.status == 422
    assert wrong.has("This is not your password.")
    assert (await browser.get("/settings/delete", follow=False)).status == 303
    right = await browser.submit(page.location, "/settings/confirm", {"password": PASSWORD, "next": "/settings/delete"})
    assert right.status == 303
    assert right.location == "/settings/delete"
    assert (await browser.get("/settings/delete", follow=False)).status == 200


async def test_nine_minutes_is_recent_eleven_is_not(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool, 9)
    assert (await browser.get("/settings/email", follow=False)).status == 200
    await make_stale(pool, 11)
    assert (await browser.get("/settings/email", follow=False)).status == 303


async def test_a_stale_form_post_changes_nothing_and_is_sent_to_confirm(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """Attack: a stolen, old session cookie deletes the account."""
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.get("/settings/delete")
    await make_stale(pool)
    posted = await browser.post("/settings/delete", {"confirm_username": "alice", "csrf_token": page.csrf})
    assert posted.status == 303
    assert posted.location == "/settings/confirm?next=/settings/delete"
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = 'alice'") == 1


async def test_a_json_request_gets_a_problem(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool)
    csrf = (await browser.get("/settings")).csrf
    async with browser.client.post(
        "/settings/email", json={"email": "a@b.example"}, headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
    ) as response:
        assert response.status == 403
        body = await response.json()
    assert body["type"].endswith("/reauthentication-required")
    assert body["confirm_url"] == "/settings/confirm?next=/settings/email"


async def test_a_link_sign_in_counts_only_for_an_account_without_a_password(
    browser: Browser, make_user: MakeUser, services: Services, config: Config
) -> None:
    await make_user("alice", email_verified=True)
    await make_user("bob", password=None, email_verified=True)
    for email, recent in (("alice@example.org", False), ("bob@example.org", True)):
        await browser.submit("/login/link", "/login/link", {"email": email})
        path = await last_link(services, config, "/login/link/")
        assert (await browser.submit(path, path, {})).location == "/settings"
        page = await browser.get("/settings/delete", follow=False)
        assert page.status == (200 if recent else 303), email
        await browser.submit("/settings", "/logout", {})


async def test_an_account_without_a_password_confirms_with_a_totp_code(
    browser: Browser, make_user: MakeUser, services: Services, pool: asyncpg.Pool
) -> None:
    services.clock = Clock()
    user = await make_user("bob", password=None, email_verified=True)
    secret = pyotp.random_base32()
    now = services.clock.time()
    await totp.enable(services, user["id"], secret, pyotp.TOTP(secret).at(now - 30))
    # Sign in by link (through the code step), then let the proof age.
    await browser.submit("/login/link", "/login/link", {"email": "bob@example.org"})
    path = await last_link(services, services.config, "/login/link/")
    assert (await browser.submit(path, path, {})).location == "/login/2fa"
    signed = await browser.submit("/login/2fa", "/login/2fa", {"code": pyotp.TOTP(secret).at(now)})
    assert signed.location == "/settings"
    await make_stale(pool)
    confirm = await browser.get("/settings/confirm?next=/settings/export")
    assert confirm.has("Code from your authenticator app")
    assert not confirm.has('name="password"')
    done = await browser.post(
        "/settings/confirm",
        {"code": pyotp.TOTP(secret).at(now + 30), "next": "/settings/export", "csrf_token": confirm.csrf},
    )
    assert done.location == "/settings/export"


async def test_the_confirm_page_only_goes_back_to_local_pages_and_needs_csrf(
    browser: Browser, other_browser: Browser, make_user: MakeUser
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.submit(
        "/settings/confirm", "/settings/confirm", {"password": PASSWORD, "next": "//evil.example"}
    )
    assert page.location == "/settings"
    forged = await browser.post("/settings/confirm", {"password": PASSWORD, "next": "/settings"})
    assert forged.status == 403
    assert (await other_browser.get("/settings/confirm", follow=False)).location == "/login?next=/settings/confirm"


def test_the_window_is_a_setting() -> None:
    assert Config.from_env({}).section(AccountsSettings).reauth_minutes == 10
    assert Config.from_env({"MNWD_REAUTH_MINUTES": "3"}).section(AccountsSettings).reauth_minutes == 3
    with pytest.raises(ConfigError, match="MNWD_REAUTH_MINUTES"):
        Config.from_env({"MNWD_REAUTH_MINUTES": "0"}).section(AccountsSettings)


async def test_a_passkey_confirms_from_the_confirm_page(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, config: Config
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    laptop = Authenticator(config.base_url)
    assert (await add_passkey(browser, laptop))[0] == 201
    await make_stale(pool)
    confirm = await browser.get("/settings/confirm?next=/settings/delete")
    assert confirm.has('id="passkey-login"')
    assert confirm.has('data-next="/settings/delete"')
    # The button runs the passkey sign-in, which starts a fresh, recently authenticated session.
    status, body, _ = await passkey_sign_in(browser, laptop, "/settings/delete")
    assert (status, body) == (200, {"redirect": "/settings/delete"})
    assert (await browser.get("/settings/delete", follow=False)).status == 200


async def test_an_account_with_nothing_to_type_adds_a_passkey_only_when_recent(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, services: Services, config: Config
) -> None:
    """Attack: an old stolen session cookie of a link-only account adds a passkey of its own."""
    await make_user("bob", password=None, email_verified=True)
    await browser.submit("/login/link", "/login/link", {"email": "bob@example.org"})
    path = await last_link(services, config, "/login/link/")
    await browser.submit(path, path, {})
    await make_stale(pool)
    status, body = await add_passkey(browser, Authenticator(config.base_url), reauth={})
    assert status == 403
    assert body["type"].endswith("/reauthentication-required")
    assert body["confirm_url"] == "/settings/confirm?next=/settings/passkeys"
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 0
    await make_stale(pool, 1)
    status, body = await add_passkey(browser, Authenticator(config.base_url), reauth={})
    assert status == 201, body


async def test_the_inline_password_of_the_passkey_form_counts_as_recent(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, config: Config
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool)
    assert (await add_passkey(browser, Authenticator(config.base_url)))[0] == 201
    assert (await browser.get("/settings/delete", follow=False)).status == 200


async def test_guessing_the_password_on_the_confirm_page_is_rate_limited(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """Attack: a stolen session cookie guesses the password on the confirm page."""
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool)
    csrf = (await browser.get("/settings/confirm")).csrf
    statuses = [
        (await browser.post("/settings/confirm", {"password": f"guess {n}", "next": "/", "csrf_token": csrf})).status
        for n in range(11)
    ]
    assert statuses == [422] * 10 + [429]
    refused = await browser.post("/settings/confirm", {"password": PASSWORD, "next": "/", "csrf_token": csrf})
    assert refused.status == 429
    assert (await browser.get("/settings/delete", follow=False)).status == 303
