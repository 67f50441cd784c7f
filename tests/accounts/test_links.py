from __future__ import annotations

import asyncio

import aiohttp
import asyncpg

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs
from tests.support.queries import QueryCount


async def last_link(services: Services, config: Config, marker: str) -> str:
    """The link in the newest mail holding one, once the queued mail jobs have run (in any order)."""
    await run_jobs(services)
    for mail in reversed(read_outbox(config.data_dir / "outbox")):
        body = mail.get_body().get_content()
        urls = [line.strip() for line in body.splitlines() if marker in line]
        if urls:
            return urls[0].removeprefix(config.base_url)
    raise AssertionError(f"no mail holds a {marker} link")


async def test_login_link_signs_in_once(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice", password=None)
    page = await browser.submit("/login/link", "/login/link", {"email": "ALICE@example.org"})
    assert page.status == 200
    assert page.has("a sign-in link is on its way")
    path = await last_link(services, config, "/login/link/")
    token = path.rsplit("/", 1)[1]
    assert (
        await pool.fetchval("SELECT count(*) FROM login_tokens WHERE token_hash = sha256($1::text::bytea)", token) == 1
    )
    confirm = await browser.get(path)
    assert confirm.has("Sign in as @alice?")
    signed_in = await browser.post(path, {"csrf_token": confirm.csrf})
    assert signed_in.location == "/settings"
    assert (await browser.get("/settings")).has("@alice")
    await browser.submit("/settings", "/logout", {})
    replay = await browser.submit("/login", path, {})
    assert replay.status == 410
    assert replay.has("This link was already used.")
    assert (await browser.get("/settings", follow=False)).status == 303


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    browser: Browser, config: Config, services: Services
) -> None:
    page = await browser.submit("/login/link", "/login/link", {"email": "nobody@example.org"})
    assert page.status == 200
    assert page.has("a sign-in link is on its way")
    assert await run_jobs(services) == 1
    assert read_outbox(config.data_dir / "outbox") == []


async def test_expired_and_forged_links_are_refused(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice")
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    await pool.execute(
        "UPDATE login_tokens SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour'"
    )
    page = await browser.submit("/login", path, {})
    assert page.status == 410
    assert page.has("This link has expired.")
    forged = await browser.submit("/login/link", "/login/link/" + "A" * 43, {})
    assert forged.status == 404
    assert (await browser.get("/login/link/../../etc/passwd")).status == 404


async def test_a_link_clicked_twice_at_once_signs_in_once(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice")
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    csrf = (await browser.get(path)).csrf
    pages = await asyncio.gather(*(browser.post(path, {"csrf_token": csrf}) for _ in range(5)))
    assert sorted(p.status for p in pages) == [303, 410, 410, 410, 410]
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 1


async def test_link_requests_are_rate_limited(
    browser: Browser, make_user: MakeUser, config: Config, services: Services
) -> None:
    await make_user("alice")
    for _ in range(3):
        assert (await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})).status == 200
    page = await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    assert page.status == 429
    assert await run_jobs(services) == 3
    assert len(read_outbox(config.data_dir / "outbox")) == 3


async def test_malformed_address_is_refused(browser: Browser) -> None:
    page = await browser.submit("/login/link", "/login/link", {"email": "alice at example"})
    assert page.status == 422
    assert page.has("Enter one email address.")


async def test_suspended_user_gets_no_link(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice")
    await pool.execute("UPDATE users SET suspended_at = now()")
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    assert await run_jobs(services) == 1
    assert read_outbox(config.data_dir / "outbox") == []


async def test_a_sign_in_link_takes_a_pre_registered_account_back_from_whoever_signed_up_with_the_address(
    browser: Browser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    """Attack: mallory signs up with alice's address and a password of hers, and waits. When alice later signs
    in by e-mail link, she finds an account that looks like hers, while mallory's password and session still
    work. Now the link proves the mailbox: the address is verified, the password dropped, every other session
    ended."""
    mallory_password = "mallory's own password"
    form = {"username": "alice", "email": "alice@example.org", "password": mallory_password}
    signed_up = await browser.submit("/signup", "/signup", {**form, "password_confirm": mallory_password})
    assert signed_up.status == 303
    mallory_cookie = browser.cookie("mnwd_session")
    browser.client.session.cookie_jar.clear()

    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    confirm = await browser.get(path)
    assert (await browser.post(path, {"csrf_token": confirm.csrf})).location == "/settings"

    row = await pool.fetchrow("SELECT email_verified, password_hash FROM users WHERE username = 'alice'")
    assert row["email_verified"] is True
    assert row["password_hash"] is None
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 1
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as mallory,
        mallory.get(
            browser.client.make_url("/settings"),
            headers={"Cookie": f"mnwd_session={mallory_cookie}"},
            allow_redirects=False,
        ) as old_session,
    ):
        assert old_session.status == 303
    assert (await browser.get("/settings")).has("@alice")

    browser.client.session.cookie_jar.clear()
    again = await browser.submit("/login", "/login", {"login": "alice", "password": mallory_password})
    assert again.status != 303
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 1


async def test_a_sign_in_link_to_a_verified_account_keeps_its_password_and_sessions(
    browser: Browser, make_user: MakeUser, config: Config, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice", email_verified=True)
    await sign_in(browser, "alice")
    browser.client.session.cookie_jar.clear()
    await browser.submit("/login/link", "/login/link", {"email": "alice@example.org"})
    path = await last_link(services, config, "/login/link/")
    confirm = await browser.get(path)
    assert (await browser.post(path, {"csrf_token": confirm.csrf})).location == "/settings"
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 2
    browser.client.session.cookie_jar.clear()
    await sign_in(browser, "alice")


async def test_asking_for_a_link_does_the_same_database_work_for_known_and_unknown_addresses(
    query_count: QueryCount, browser: Browser, make_user: MakeUser, config: Config, services: Services
) -> None:
    """Attack: time the answer to tell which addresses have an account. The request only queues a job with
    the address; looking the account up and mailing happen later, in the job."""
    await make_user("alice")
    page = await browser.get("/login/link")
    counts = []
    for email in ("alice@example.org", "nobody@example.org"):
        async with query_count() as statements:
            answer = await browser.post("/login/link", {"csrf_token": page.csrf, "email": email})
        assert answer.status == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert await run_jobs(services) == 2
    assert len(read_outbox(config.data_dir / "outbox")) == 1
    job = await services.pool.fetchval("SELECT payload::text FROM jobs WHERE kind = 'accounts.login_link_mail' LIMIT 1")
    assert "token" not in job
