"""Changing the email: re-authentication, a link to the new address, the notice to the old one."""

from __future__ import annotations

import asyncio

import asyncpg

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.accounts.test_links import last_link
from tests.accounts.test_reauth import make_stale
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs


async def ask_change(browser: Browser, email: str) -> str:
    page = await browser.submit("/settings/email", "/settings/email", {"email": email})
    assert page.status == 200, page.text
    return page.text


async def test_the_change_happens_when_the_new_address_confirms(
    browser: Browser,
    other_browser: Browser,
    make_user: MakeUser,
    services: Services,
    config: Config,
    pool: asyncpg.Pool,
) -> None:
    alice = await make_user("alice", email_verified=True)
    await sign_in(browser, "alice")
    assert "We sent a link to alice@new.example" in await ask_change(browser, "alice@new.example")
    assert await pool.fetchval("SELECT email FROM users WHERE id = $1", alice["id"]) == "alice@example.org"
    path = await last_link(services, config, "/settings/email/confirm/")
    [mail] = read_outbox(config.data_dir / "outbox")
    assert mail["To"] == "alice@new.example"
    assert mail["Subject"] == "Confirm your new email for mnwd"

    # The link works from any browser: it is its own proof.
    elsewhere = other_browser
    confirm = await elsewhere.get(path)
    assert confirm.has("Use alice@new.example for @alice?")
    done = await elsewhere.post(path, {"csrf_token": confirm.csrf})
    assert done.status == 200
    assert done.has("Your account now uses alice@new.example.")
    row = await pool.fetchrow("SELECT email, email_verified FROM users WHERE id = $1", alice["id"])
    assert (row["email"], row["email_verified"]) == ("alice@new.example", True)

    await run_jobs(services)
    notice = next(m for m in read_outbox(config.data_dir / "outbox") if m["To"] == "alice@example.org")
    assert notice["Subject"] == "The email of your mnwd account was changed"
    assert "alice@new.example" in notice.get_body().get_content()

    replay = await elsewhere.post(path, {"csrf_token": confirm.csrf})
    assert replay.status == 410
    # Sign-in now goes by the new address only.
    assert (await browser.get("/settings")).has("alice@new.example")


async def test_an_address_taken_meanwhile_is_a_clear_conflict(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    alice = await make_user("alice")
    await sign_in(browser, "alice")
    await ask_change(browser, "shared@example.org")
    path = await last_link(services, config, "/settings/email/confirm/")
    await make_user("bob", email="SHARED@example.org")
    refused = await browser.submit(path, path, {})
    assert refused.status == 409
    assert refused.has("shared@example.org now belongs to another account, so your address was not changed.")
    assert await pool.fetchval("SELECT email FROM users WHERE id = $1", alice["id"]) == "alice@example.org"


async def test_links_mailed_to_the_old_address_stop_working(
    browser: Browser, make_user: MakeUser, services: Services, config: Config
) -> None:
    """Attack: whoever still reads the old mailbox signs in with a link asked for before the change."""
    await make_user("alice", email_verified=True)
    await sign_in(browser, "alice")
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    old_link = await last_link(services, config, "/login/link/")
    await ask_change(browser, "alice@new.example")
    path = await last_link(services, config, "/settings/email/confirm/")
    assert (await browser.submit(path, path, {})).status == 200
    assert (await browser.submit(old_link, old_link, {})).status == 410


async def test_bad_requests_and_a_stale_session_change_nothing(
    browser: Browser, make_user: MakeUser, services: Services, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    bad = await browser.submit("/settings/email", "/settings/email", {"email": "not an address"})
    assert bad.status == 422
    assert bad.has("Enter one email address.")
    same = await browser.submit("/settings/email", "/settings/email", {"email": "ALICE@example.org"})
    assert same.status == 422
    assert same.has("This is already your address.")
    forged = await browser.post("/settings/email", {"email": "x@example.org"})
    assert forged.status == 403
    csrf = (await browser.get("/settings/email")).csrf
    await make_stale(pool)
    stale = await browser.post("/settings/email", {"email": "x@example.org", "csrf_token": csrf})
    assert stale.location == "/settings/confirm?next=/settings/email"
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'accounts.email_change_mail'") == 0
    forged_link = await browser.get("/settings/email/confirm/" + "B" * 43)
    assert forged_link.status == 404


async def test_a_link_clicked_twice_at_once_changes_once(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await ask_change(browser, "alice@new.example")
    path = await last_link(services, config, "/settings/email/confirm/")
    csrf = (await browser.get(path)).csrf
    pages = await asyncio.gather(*(browser.post(path, {"csrf_token": csrf}) for _ in range(3)))
    assert sorted(p.status for p in pages) == [200, 410, 410]
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'accounts.email_changed_notice'") == 1
