"""Forgot password: the reset mail, the single-use link, what a reset signs out and what it does not skip."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
import pyotp
import pytest

from mnwd.accounts import totp
from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.accounts.test_links import last_link
from tests.accounts.test_two_factor import Clock
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs

NEW_PASSWORD = "a brand new passphrase 9"


async def ask_reset(browser: Browser, email: str) -> str:
    page = await browser.submit("/login/forgot", "/login/forgot", {"email": email})
    assert page.status == 200, page.text
    return page.text


async def test_the_sign_in_page_links_to_it(browser: Browser) -> None:
    page = await browser.get("/login")
    assert page.has('<a href="/login/forgot">Forgot password?</a>')
    assert (await browser.get("/login/forgot")).has("Forgot your password?")


async def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    unknown = await ask_reset(browser, "nobody@example.org")
    known = await ask_reset(browser, "alice@example.org")
    assert unknown.replace("nobody@example.org", "X") == known.replace("alice@example.org", "X")
    # Both only queued a job: nothing about the account was looked up while answering.
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'accounts.password_reset_mail'") == 2
    assert await pool.fetchval("SELECT count(*) FROM login_tokens") == 0
    await run_jobs(services)
    [mail] = read_outbox(config.data_dir / "outbox")
    assert mail["To"] == "alice@example.org"
    assert mail["Subject"] == "Reset your mnwd password"


async def test_a_reset_sets_the_password_once_and_signs_out_every_session(
    browser: Browser,
    other_browser: Browser,
    make_user: MakeUser,
    services: Services,
    config: Config,
    pool: asyncpg.Pool,
) -> None:
    await make_user("alice")
    other = other_browser
    await sign_in(other, "alice")
    elsewhere = other.cookie("mnwd_session")
    await ask_reset(browser, "ALICE@example.org")
    path = await last_link(services, config, "/login/reset/")
    token = path.rsplit("/", 1)[1]
    assert (
        await pool.fetchval("SELECT count(*) FROM login_tokens WHERE token_hash = sha256($1::text::bytea)", token) == 1
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM login_tokens WHERE token_hash::text LIKE '%' || $1 || '%'", token)
        == 0
    )

    page = await browser.get(path)
    assert page.has("Choose a new password for @alice")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # A refused password uses nothing up.
    short = await browser.post(
        path, {"new_password": "short", "new_password_confirm": "short", "csrf_token": page.csrf}
    )
    assert short.status == 422
    assert short.has("Use at least 10 characters.")
    differ = await browser.post(
        path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD + "x", "csrf_token": page.csrf}
    )
    assert differ.status == 422
    done = await browser.post(
        path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD, "csrf_token": page.csrf}
    )
    assert done.status == 200
    assert done.has("Your password is changed")
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 0
    assert elsewhere is not None
    assert (await other.get("/settings", follow=False)).status == 303

    again = await browser.post(
        path,
        {
            "new_password": "yet another passphrase",
            "new_password_confirm": "yet another passphrase",
            "csrf_token": (await browser.get("/login")).csrf,
        },
    )
    assert again.status == 410
    assert again.has("This link was already used.")
    old = await browser.submit("/login", "/login", {"login": "alice", "password": PASSWORD})
    assert old.status == 401
    await sign_in(browser, "alice", NEW_PASSWORD)


async def test_two_factor_is_still_asked_after_a_reset(
    browser: Browser, make_user: MakeUser, services: Services, config: Config
) -> None:
    """Attack: someone with the mailbox only resets the password to get past the second factor."""
    services.clock = Clock()
    user = await make_user("alice", email_verified=True)
    secret = pyotp.random_base32()
    await totp.enable(services, user["id"], secret, pyotp.TOTP(secret).at(services.clock.time()))
    await ask_reset(browser, "alice@example.org")
    path = await last_link(services, config, "/login/reset/")
    done = await browser.submit(path, path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert done.status == 200
    assert (await browser.get("/settings", follow=False)).status == 303
    page = await browser.submit("/login", "/login", {"login": "alice", "password": NEW_PASSWORD})
    assert page.location == "/login/2fa"
    assert (await browser.get("/settings", follow=False)).status == 303


async def test_expired_forged_and_raced_links(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await ask_reset(browser, "alice@example.org")
    path = await last_link(services, config, "/login/reset/")
    assert await pool.fetchval("SELECT expires_at - created_at FROM login_tokens") <= timedelta(minutes=30)
    await pool.execute(
        "UPDATE login_tokens SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour'"
    )
    expired = await browser.submit("/login", path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert expired.status == 410
    assert expired.has("This link has expired.")
    forged = await browser.submit("/login/forgot", "/login/reset/" + "A" * 43, {"new_password": NEW_PASSWORD})
    assert forged.status == 404

    await ask_reset(browser, "alice@example.org")
    await pool.execute("DELETE FROM rate_limits")
    path = await last_link(services, config, "/login/reset/")
    csrf = (await browser.get(path)).csrf
    form = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD, "csrf_token": csrf}
    pages = await asyncio.gather(*(browser.post(path, form) for _ in range(4)))
    assert sorted(p.status for p in pages) == [200, 410, 410, 410]


async def test_an_unknown_or_suspended_account_gets_no_mail(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await pool.execute("UPDATE users SET suspended_at = now()")
    await ask_reset(browser, "alice@example.org")
    await run_jobs(services)
    assert read_outbox(config.data_dir / "outbox") == []
    assert await pool.fetchval("SELECT count(*) FROM login_tokens") == 0


async def test_requests_are_rate_limited_and_need_a_csrf_token(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    for _ in range(3):
        await ask_reset(browser, "alice@example.org")
    page = await browser.submit("/login/forgot", "/login/forgot", {"email": "alice@example.org"})
    assert page.status == 429
    assert "Retry-After" in page.headers
    forged = await browser.post("/login/forgot", {"email": "alice@example.org"})
    assert forged.status == 403


async def test_a_link_session_sets_a_new_password_without_the_old_one(
    browser: Browser, make_user: MakeUser, services: Services, config: Config
) -> None:
    await make_user("alice", email_verified=True)
    await sign_in(browser, "alice")
    without_old = await browser.submit(
        "/settings/password", "/settings/password", {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    )
    assert without_old.status == 422
    assert without_old.has("This is not your current password.")
    await browser.submit("/settings", "/logout", {})

    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    await browser.submit(path, path, {})
    form = await browser.get("/settings/password")
    assert not form.has('name="current_password"')
    assert form.has("You signed in with an email link")
    changed = await browser.post(
        "/settings/password",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD, "csrf_token": form.csrf},
    )
    assert changed.location == "/settings?saved=password"
    await browser.submit("/settings", "/logout", {})
    await sign_in(browser, "alice", NEW_PASSWORD)


async def test_an_old_link_session_is_asked_for_the_old_password(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    """Attack: a stolen cookie of a link session, days old, sets a password and signs the owner out."""
    await make_user("alice", email_verified=True)
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    await browser.submit(path, path, {})
    await pool.execute("UPDATE user_sessions SET created_at = now() - interval '2 days'")
    form = await browser.get("/settings/password")
    assert form.has('name="current_password"')
    refused = await browser.post(
        "/settings/password",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD, "csrf_token": form.csrf},
    )
    assert refused.status == 422
    assert refused.has("This is not your current password.")


async def test_the_access_log_masks_the_reset_token(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    await make_user("alice")
    await ask_reset(browser, "alice@example.org")
    path = await last_link(services, config, "/login/reset/")
    token = path.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        await browser.get(path)
    assert token not in caplog.text


async def test_a_reset_claims_an_unverified_account_for_the_mailbox(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    """Attack: sign up with someone else's address, add a passkey and 2FA, and keep a way in after its owner
    resets the password."""
    alice = await make_user("alice")
    await pool.execute(
        "INSERT INTO user_passkeys (user_id, credential_id, credential_json, name) VALUES ($1, '\\x01', '{}', 'x')",
        alice["id"],
    )
    await pool.execute(
        "UPDATE users SET totp_enabled = true, totp_secret = 'JBSWY3DPEHPK3PXP' WHERE id = $1", alice["id"]
    )
    await ask_reset(browser, "alice@example.org")
    path = await last_link(services, config, "/login/reset/")
    done = await browser.submit(path, path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert done.status == 200
    row = await pool.fetchrow("SELECT email_verified, totp_enabled FROM users WHERE id = $1", alice["id"])
    assert (row["email_verified"], row["totp_enabled"]) == (True, False)
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 0
    await sign_in(browser, "alice", NEW_PASSWORD)
