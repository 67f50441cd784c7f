"""Redeeming an invite code with an account made without one (``/settings/invite``), and the cap on the codes one
creator may issue (``MNWD_PLATFORM_CREATOR_INVITE_CODES``), also when two requests race for the last one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from mnwd.accounts import Viewer
from mnwd.config import Config
from mnwd.platform.invites import InviteCodeLimit, issue_code
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR

CAP = 3


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", "MNWD_PLATFORM_CREATOR_INVITE_CODES": str(CAP)},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


async def _code(pool: asyncpg.Pool, creator_id: object, code: str, max_uses: int, days: int = 7) -> None:
    await pool.execute(
        "INSERT INTO invite_codes (creator_id, code, max_uses, expires_at) "
        "VALUES ($1, $2, $3, now() + make_interval(days => $4))",
        creator_id,
        code,
        max_uses,
        days,
    )


async def test_an_existing_account_redeems_a_code_once(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await _code(pool, maker["id"], "late-code", 2)
    await _code(pool, maker["id"], "old-code", 5, days=-1)
    fan = await make_user("fan")
    await pool.execute("INSERT INTO creator_waitlist (user_id, pitch) VALUES ($1, 'games')", fan["id"])
    await sign_in(browser, "fan")
    join = await browser.get("/creators/join")
    assert 'href="/settings/invite"' in join.text
    page = await browser.get("/settings/invite")
    assert page.status == 200
    assert 'id="redeem"' in page.text
    for bad in ("", "nope", "old-code", "x" * 300, "<b>late-code</b>"):
        refused = await browser.submit("/settings/invite", "/settings/invite", {"invite": bad})
        assert refused.status == 422, bad
        assert 'class="field-error"' in refused.text or "Give the invite code" in refused.text
    assert await pool.fetchval("SELECT can_create_projects FROM users WHERE id = $1", fan["id"]) is False

    done = await browser.submit("/settings/invite", "/settings/invite", {"invite": " late-code "})
    assert (done.status, done.location) == (303, "/settings/invite?done=1")
    assert 'id="redeemed"' in (await browser.get("/settings/invite?done=1")).text
    user = await pool.fetchrow("SELECT can_create_projects, creator_tier FROM users WHERE id = $1", fan["id"])
    assert (user["can_create_projects"], user["creator_tier"]) == (True, "basic")
    assert await pool.fetchval("SELECT uses FROM invite_codes WHERE code = 'late-code'") == 1
    assert await pool.fetchval("SELECT status FROM creator_waitlist WHERE user_id = $1", fan["id"]) == "accepted"
    again = await browser.submit("/settings/invite", "/settings/invite", {"invite": "late-code"})
    assert 'id="already-creator"' in again.text
    assert await pool.fetchval("SELECT uses FROM invite_codes WHERE code = 'late-code'") == 1


async def test_an_account_that_redeemed_before_cannot_take_a_second_use(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """Creator access taken away by an admin is not won back with another code."""
    maker = await make_user("maker", can_create_projects=True)
    await _code(pool, maker["id"], "code-a", 3)
    fan = await make_user("fan")
    await sign_in(browser, "fan")
    assert (await browser.submit("/settings/invite", "/settings/invite", {"invite": "code-a"})).status == 303
    await pool.execute("UPDATE users SET can_create_projects = false WHERE id = $1", fan["id"])
    refused = await browser.submit("/settings/invite", "/settings/invite", {"invite": "code-a"})
    assert refused.status == 409
    assert "redeemed an invite code before" in refused.text
    assert await pool.fetchval("SELECT uses FROM invite_codes WHERE code = 'code-a'") == 1


async def test_a_creator_issues_at_most_the_cap_of_codes(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    for _ in range(CAP):
        made = await browser.submit("/invites", "/invites", {"max_uses": "1", "expires_days": "7", "note": ""})
        assert made.status == 303
    refused = await browser.submit("/invites", "/invites", {"max_uses": "1", "expires_days": "7", "note": ""})
    assert refused.status == 403
    assert f"You have issued {CAP} invite codes" in refused.text
    async with browser.client.post(
        "/invites",
        data={"csrf_token": (await browser.get("/invites")).csrf, "max_uses": "1", "expires_days": "7"},
        headers={"Accept": "application/problem+json"},
    ) as response:
        assert response.status == 403
    assert await pool.fetchval("SELECT count(*) FROM invite_codes") == CAP


async def test_two_requests_racing_for_the_last_code_make_one(
    services: Services, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    viewer = Viewer(
        user_id=maker["id"],
        session_id=maker["id"],
        username="maker",
        email="maker@example.org",
        display_name=None,
        email_verified=True,
        totp_enabled=False,
        is_admin=False,
        can_create_projects=True,
        has_password=True,
        notify={},
    )
    results = await asyncio.gather(
        *(issue_code(services, viewer, 1, 7, "") for _ in range(CAP + 4)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, InviteCodeLimit)) == 4
    assert await pool.fetchval("SELECT count(*) FROM invite_codes") == CAP
    admin = Viewer(**{**viewer.__dict__, "is_admin": True})
    await issue_code(services, admin, 1, 7, "")
    assert await pool.fetchval("SELECT count(*) FROM invite_codes") == CAP + 1


async def test_the_settings_nav_leads_to_the_platforms_pages(browser: Browser, make_user: MakeUser) -> None:
    await make_user("fan")
    await sign_in(browser, "fan")
    page = await browser.get("/settings")
    assert 'href="/settings/invite"' in page.text
    assert 'href="/settings/billing"' not in page.text
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    page = await browser.get("/settings")
    assert 'href="/settings/billing"' in page.text
    assert 'href="/settings/domains"' in page.text
    assert 'href="/settings/invite"' not in page.text
