"""Asking to become a creator, waves of the waitlist (each person mailed exactly once), and invite codes at
sign-up: single and multi-use, expiry, and exactly ``max_uses`` creators under concurrent sign-ups."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from mnwd.accounts.users import sign_up
from mnwd.config import Config
from mnwd.errors import ValidationFailed
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser


async def _code(pool: asyncpg.Pool, creator_id: object, code: str, max_uses: int, days: int = 7) -> None:
    await pool.execute(
        "INSERT INTO invite_codes (creator_id, code, max_uses, expires_at) "
        "VALUES ($1, $2, $3, now() + make_interval(days => $4))",
        creator_id,
        code,
        max_uses,
        days,
    )


def _mails(config: Config) -> list[object]:
    outbox: Path = config.data_dir / "outbox"
    return [m for m in read_outbox(outbox) if "You're in" in str(m["Subject"])]


async def test_fifty_concurrent_sign_ups_on_a_ten_use_code_make_exactly_ten_creators(
    services: Services, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await _code(pool, maker["id"], "team-code-10", 10)

    async def one(n: int) -> str | None:
        """None when the account was made; else the field its problem names."""
        try:
            await sign_up(
                services,
                username=f"fan{n}",
                email=f"fan{n}@example.org",
                password=PASSWORD,
                extras={"invite": "team-code-10"},
            )
        except ValidationFailed as problem:
            return str(problem.extra["errors"][0]["field"])
        return None

    results = await asyncio.gather(*(one(n) for n in range(50)))
    assert results.count(None) == 10
    assert results.count("invite") == 40
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username LIKE 'fan%' AND can_create_projects") == 10
    # The refused sign-ups made no account at all.
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username LIKE 'fan%'") == 10
    assert await pool.fetchval("SELECT uses FROM invite_codes WHERE code = 'team-code-10'") == 10
    assert await pool.fetchval("SELECT count(*) FROM invite_redemptions") == 10


async def test_sign_up_with_a_code_over_http(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await _code(pool, maker["id"], "single-use", 1)
    await _code(pool, maker["id"], "old-code", 5, days=-1)
    form = {"username": "newbie", "email": "newbie@example.org", "password": PASSWORD, "password_confirm": PASSWORD}
    page = await browser.submit("/signup?invite=old-code", "/signup", {**form, "invite": "old-code"})
    assert page.status == 422
    assert page.has("This invite code is unknown, expired or used up")
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = 'newbie'") == 0
    page = await browser.submit("/signup", "/signup", {**form, "invite": "<b>nope</b>"})
    assert page.status == 422
    page = await browser.submit("/signup?invite=single-use", "/signup", {**form, "invite": "single-use"})
    assert page.status == 303
    row = await pool.fetchrow("SELECT can_create_projects, creator_tier FROM users WHERE username = 'newbie'")
    assert (row["can_create_projects"], row["creator_tier"]) == (True, "basic")
    await browser.post("/logout", {"csrf_token": (await browser.get("/settings")).csrf})
    page = await browser.submit(
        "/signup", "/signup", {**form, "username": "second", "email": "s@example.org", "invite": "single-use"}
    )
    assert page.status == 422
    page = await browser.submit("/signup", "/signup", {**form, "username": "plain", "email": "p@example.org"})
    assert page.status == 303
    assert await pool.fetchval("SELECT can_create_projects FROM users WHERE username = 'plain'") is False


async def test_creators_issue_codes_and_others_may_not(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("fan")
    await sign_in(browser, "fan")
    assert (await browser.get("/invites")).status == 403
    await pool.execute("UPDATE users SET can_create_projects = true WHERE username = 'fan'")
    page = await browser.submit("/invites", "/invites", {"max_uses": "26", "expires_days": "7", "note": ""})
    assert page.status == 422
    assert page.has("A code is used 1 to 25 times.")
    page = await browser.submit("/invites", "/invites", {"max_uses": "3", "expires_days": "7", "note": "<i>x</i>"})
    assert page.status == 303
    row = await pool.fetchrow("SELECT code, max_uses, uses, note FROM invite_codes")
    assert (row["max_uses"], row["uses"], row["note"]) == (3, 0, "<i>x</i>")
    listing = await browser.get("/invites")
    assert listing.has(row["code"])
    assert "<i>x</i>" not in listing.text


async def test_asking_to_become_a_creator(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    page = await browser.get("/creators/join")
    assert page.status == 200
    assert page.has('id="sign-in-first"')
    await make_user("hopeful")
    await sign_in(browser, "hopeful")
    page = await browser.submit("/creators/join", "/creators/join", {"pitch": "", "portfolio_url": "javascript:x"})
    assert page.status == 422
    page = await browser.submit("/creators/join", "/creators/join", {"pitch": "Synth patches", "portfolio_url": ""})
    assert page.status == 303
    assert (await browser.get("/creators/join")).has('id="on-waitlist"')
    assert await pool.fetchval("SELECT status FROM creator_waitlist") == "pending"


async def test_a_wave_mails_exactly_its_people_once(
    browser: Browser, make_user: MakeUser, services: Services, config: Config, pool: asyncpg.Pool
) -> None:
    people = []
    for n in range(6):
        user = await make_user(f"hopeful{n}")
        await pool.execute(
            "INSERT INTO creator_waitlist (user_id, pitch, created_at) "
            "VALUES ($1, 'x', now() + make_interval(secs => $2))",
            user["id"],
            n,
        )
        people.append(user)
    await make_user("boss", is_admin=True)
    await sign_in(browser, "boss")
    page = await browser.submit("/admin/waitlist", "/admin/waves", {"count": "3"})
    assert page.status == 303
    await services.jobs.run_due()
    await services.jobs.run_due()
    mails = _mails(config)
    assert sorted(str(m["To"]) for m in mails) == [f"hopeful{n}@example.org" for n in range(3)]
    invited = await pool.fetch("SELECT u.username FROM users u WHERE can_create_projects ORDER BY username")
    assert [r["username"] for r in invited] == ["hopeful0", "hopeful1", "hopeful2"]
    # A wave of two picked people (one already invited is skipped).
    ids = await pool.fetch(
        "SELECT w.id FROM creator_waitlist w JOIN users u ON u.id = w.user_id "
        "WHERE u.username IN ('hopeful0', 'hopeful5')"
    )
    form = await browser.get("/admin/waitlist")
    async with browser.client.post(
        "/admin/waves",
        data=[("csrf_token", form.csrf), ("count", "10"), *(("pick", str(r["id"])) for r in ids)],
        headers=browser.headers,
        allow_redirects=False,
    ) as response:
        assert response.status == 303
    await services.jobs.run_due()
    assert len(_mails(config)) == 4
    assert await pool.fetchval("SELECT count(*) FROM creator_waves") == 2
    assert (await browser.get("/admin/waitlist?status=invited")).has("@hopeful5")
    # Nobody picked who is waiting: nothing opens.
    page = await browser.submit("/admin/waitlist", "/admin/waves", {"count": "0"})
    assert page.status == 422
    assert await pool.fetchval("SELECT count(*) FROM admin_audit_log WHERE action = 'wave.open'") == 2
