from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from mnwd.accounts.errors import AccountLocked, InvalidCredentials
from mnwd.accounts.passwords import PASSWORDS, Passwords
from mnwd.accounts.signin import check_password, rehash_if_outdated
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.queries import QueryCount


async def test_sign_in_by_username_or_email_rotates_the_session_cookie(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    await browser.get("/login")
    before = browser.cookie("mnwd_session")
    assert before is not None
    await sign_in(browser, "ALICE@example.org")
    after = browser.cookie("mnwd_session")
    assert after is not None
    assert after != before
    assert (await browser.get("/settings")).has("@alice")


async def test_session_cookie_flags(client: TestClient, make_user: MakeUser) -> None:  # type: ignore[type-arg]
    response = await client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "mnwd_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie


async def test_cookies_are_secure_off_loopback(services: Services, aiohttp_client: object) -> None:
    import dataclasses

    from mnwd.app import create_app

    public = dataclasses.replace(
        services, config=dataclasses.replace(services.config, public_url="https://mnw.example")
    )
    client = await aiohttp_client(create_app(public))  # type: ignore[operator]
    response = await client.get("/login")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("login", ["alice", "nobody"])
async def test_unknown_user_and_wrong_password_get_the_same_answer(
    browser: Browser, make_user: MakeUser, login: str
) -> None:
    await make_user("alice")
    page = await browser.submit("/login", "/login", {"login": login, "password": "wrong password 1"})
    assert page.status == 401
    assert page.has("The username or password is not right.")
    assert browser.cookie("mnwd_session") is not None
    assert (await browser.get("/settings", follow=False)).location == "/login?next=/settings"


async def test_unknown_user_takes_as_long_as_a_wrong_password(services: Services, make_user: MakeUser) -> None:
    services[PASSWORDS] = Passwords()  # the production cost, where timing differences would show
    await make_user("alice")

    async def timed(login: str) -> float:
        started = time.perf_counter()
        with pytest.raises(InvalidCredentials):
            await check_password(services, login, "wrong password 1", "10.0.0.1")
        return time.perf_counter() - started

    # Alternating, and the fastest of each: what the work costs, without the noise of a busy machine.
    known_times, unknown_times = [], []
    for n in range(5):
        known_times.append(await timed("alice"))
        unknown_times.append(await timed(f"nobody{n}"))
    known, unknown = min(known_times), min(unknown_times)
    assert abs(known - unknown) < max(known, unknown) * 0.5, (known_times, unknown_times)


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.hashes = 0
        self.verified: list[str | bytes] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashes += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
        self.verified.append(hash)
        return super().verify(hash, password)


async def test_the_dummy_hash_is_made_on_the_first_miss_and_every_miss_verifies_it() -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher)
    assert hasher.hashes == 0  # building Services costs no argon2 call
    assert not await passwords.verify(None, "anything at all")
    assert hasher.hashes == 1
    assert not await passwords.verify(None, "mnwd dummy password for timing")
    assert hasher.hashes == 1
    assert len(hasher.verified) == 2
    assert hasher.verified[0] == hasher.verified[1]


async def test_five_failures_lock_the_account_and_success_resets(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    for attempt in range(1, 5):
        page = await browser.submit("/login", "/login", {"login": "alice", "password": f"wrong {attempt} xxxxx"})
        assert page.status == 401
        assert await pool.fetchval("SELECT failed_login_attempts FROM users") == attempt
    await sign_in(browser, "alice")
    assert await pool.fetchval("SELECT failed_login_attempts FROM users") == 0
    await browser.post("/logout", {"csrf_token": (await browser.get("/settings")).csrf})

    for attempt in range(5):
        page = await browser.submit("/login", "/login", {"login": "alice", "password": f"wrong {attempt} xxxxx"})
        assert page.status == 401
    # The lock lasts until the end of the rate limiter's 15-minute window, as an unknown name's does.
    locked_for = (await pool.fetchval("SELECT locked_until - now() FROM users")).total_seconds()
    assert 0 < locked_for <= 15 * 60
    sixth = await browser.submit("/login", "/login", {"login": "alice", "password": PASSWORD})
    assert sixth.status == 429
    assert sixth.has("Too many failed sign-in attempts")
    assert abs(int(sixth.headers["Retry-After"]) - locked_for) <= 2
    assert await pool.fetchval("SELECT failed_login_attempts FROM users") == 5

    await pool.execute("UPDATE users SET locked_until = now() - interval '1 second'")
    await sign_in(browser, "alice")


async def test_unknown_accounts_lock_like_known_ones(browser: Browser) -> None:
    for attempt in range(5):
        page = await browser.submit("/login", "/login", {"login": "ghost", "password": f"wrong {attempt} xxxxx"})
        assert page.status == 401
    page = await browser.submit("/login", "/login", {"login": "ghost", "password": "wrong again xxxxx"})
    assert page.status == 429
    assert page.has("Too many failed sign-in attempts")


async def test_the_lockout_of_a_real_account_and_of_an_unknown_name_read_the_same(
    browser: Browser, make_user: MakeUser
) -> None:
    """Attack: guess a name six times; a real account's lock used to count down while an unknown name's
    always said 900 seconds."""
    await make_user("alice")
    answers = []
    for login in ("alice", "ghost"):
        for attempt in range(5):
            page = await browser.submit("/login", "/login", {"login": login, "password": f"wrong {attempt} xxxxx"})
            assert page.status == 401
        answers.append(await browser.submit("/login", "/login", {"login": login, "password": "wrong 6 xxxxx"}))
    real, unknown = answers
    assert real.status == unknown.status == 429
    assert real.has("Too many failed sign-in attempts")
    message = "Too many failed sign-in attempts for this account. Try again in"
    assert real.text.split(message)[1][:12] == unknown.text.split(message)[1][:12]
    assert abs(int(real.headers["Retry-After"]) - int(unknown.headers["Retry-After"])) <= 1


async def test_concurrent_guesses_cannot_pass_the_lock(
    services: Services, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """Attack: fire 30 guesses at once hoping several are checked before the lock is written."""
    await make_user("alice")
    checked = 0
    verify = services[PASSWORDS].verify

    async def counting_verify(password_hash: str | None, password: str) -> bool:
        nonlocal checked
        if password_hash is not None:
            checked += 1
        return await verify(password_hash, password)

    services[PASSWORDS].verify = counting_verify  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(check_password(services, "alice", f"guess number {n}", f"10.0.0.{n}") for n in range(30)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InvalidCredentials | AccountLocked) for r in results)
    assert sum(isinstance(r, InvalidCredentials) for r in results) == 5
    assert checked == 5
    assert await pool.fetchval("SELECT locked_until > now() FROM users") is True
    with pytest.raises(AccountLocked):
        await check_password(services, "alice", PASSWORD, "10.0.0.99")


async def test_sign_in_is_rate_limited_per_address(browser: Browser, make_user: MakeUser) -> None:
    for n in range(50):
        page = await browser.submit("/login", "/login", {"login": f"user{n}", "password": "wrong password x"})
        assert page.status == 401
    page = await browser.submit("/login", "/login", {"login": "user51", "password": "wrong password x"})
    assert page.status == 429
    assert page.has("Too many sign-in attempts from your network")


async def test_password_is_rehashed_when_parameters_change(
    services: Services, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    services[PASSWORDS] = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    await make_user("alice")
    old = await pool.fetchval("SELECT password_hash FROM users")
    assert "m=1024,t=1" in old
    services[PASSWORDS] = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    user = await check_password(services, "alice", PASSWORD, "10.0.0.1")
    assert await pool.fetchval("SELECT password_hash FROM users") == old  # checking writes no hash
    assert await rehash_if_outdated(services, user, PASSWORD)
    new = await pool.fetchval("SELECT password_hash FROM users")
    assert "m=2048,t=2" in new
    user = await check_password(services, "alice", PASSWORD, "10.0.0.1")
    assert not await rehash_if_outdated(services, user, PASSWORD)


async def test_ten_kilobyte_password_is_refused_quickly(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    page = await browser.submit("/login", "/login", {"login": "alice", "password": "x" * 10 * 1024})
    assert page.status == 401


async def test_suspended_user_cannot_sign_in_and_is_signed_out(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await pool.execute("UPDATE users SET suspended_at = now()")
    assert (await browser.get("/settings", follow=False)).status == 303
    page = await browser.submit("/login", "/login", {"login": "alice", "password": PASSWORD})
    assert page.status == 403
    assert page.has("suspended")


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/settings/sessions", "/settings/sessions"),
        ("https://evil.example/", "/settings"),
        ("//evil.example/x", "/settings"),
        ("/\\evil.example", "/settings"),
        ("javascript:alert(1)", "/settings"),
    ],
)
async def test_next_only_goes_to_local_pages(
    browser: Browser, make_user: MakeUser, next_url: str, expected: str
) -> None:
    await make_user("alice")
    page = await browser.submit("/login", "/login", {"login": "alice", "password": PASSWORD, "next": next_url})
    assert page.location == expected


@pytest.mark.parametrize(
    "next_url", ["/\x0b/x", "/\t/evil.example", "/settings\r\nSet-Cookie: x=1", "/a\x00", "/a\x7f"]
)
async def test_next_with_a_control_character_falls_back_to_the_default(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, next_url: str
) -> None:
    """Attack: ``next=/<VT>/x`` passed `safe_next`, so the session was made and then the ``Location`` header
    failed (a 500 after signing in); a browser dropping the control character would read ``//x`` as off-site."""
    await make_user("alice")
    page = await browser.submit("/login", "/login", {"login": "alice", "password": PASSWORD, "next": next_url})
    assert page.status == 303
    assert page.location == "/settings"
    assert (await browser.get("/settings")).has("@alice")
    login = await browser.get("/login?next=" + quote(next_url), follow=False)
    assert login.location == "/settings"


async def test_sign_out_ends_the_session(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    page = await browser.submit("/settings", "/logout", {})
    assert page.status == 303
    assert (await browser.get("/settings", follow=False)).status == 303
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 0


async def test_signing_in_takes_eight_statements_and_a_signed_in_page_one(
    browser: Browser, make_user: MakeUser, query_count: QueryCount
) -> None:
    """Rate limits (2), the user (1), failed attempts counted before the check and reset after it (2), the
    old session dropped and a new one made (3); a page then reads the session with its user in one."""
    await make_user("alice")
    form = await browser.get("/login")
    async with query_count() as statements:
        page = await browser.post("/login", {"login": "alice", "password": PASSWORD, "csrf_token": form.csrf})
    assert page.status == 303, page.text
    assert len(statements) == 8, statements
    async with query_count() as statements:
        page = await browser.get("/settings")
    assert page.has("@alice")
    assert len(statements) == 1, statements
