"""The administration under /admin: every route refuses non-admins (403; signed out, sent to sign in), users
are found, suspended, unsuspended and given a tier; reports are resolved, dismissed, or acted on (the item
unpublished, its owner suspended); stats with charts; every action is in the audit log."""

from __future__ import annotations

import re
import uuid

import asyncpg
from aiohttp import web

from mnwd.app import create_app
from mnwd.services import Services
from tests.platform.clients import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

GROUP = re.compile(r"\(\?P<(\w+)>([^)]*)\)")
LITERALS = re.compile(r"^[a-z_|-]+$")


def _admin_routes(services: Services) -> list[tuple[str, str]]:
    """Every (method, concrete path) under /admin the application serves, parameters filled in."""
    app: web.Application = create_app(services)
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("formatter") or info.get("path") or "")
        if route.method == "HEAD" or not (path == "/admin" or path.startswith("/admin/")):
            continue
        if "pattern" in info:  # fill each parameter: the first of its literal choices, else an unknown id
            path = GROUP.sub(
                lambda m: m.group(2).split("|")[0] if LITERALS.match(m.group(2)) else str(uuid.uuid4()),
                info["pattern"].pattern,
            ).replace("\\", "")
        found.append((route.method, path))
    return found


async def test_a_non_admin_gets_403_on_every_admin_route(
    browser: Browser, make_user: MakeUser, services: Services
) -> None:
    routes = _admin_routes(services)
    paths = {path for _, path in routes}
    for expected in ("/admin", "/admin/users", "/admin/moderation", "/admin/waitlist", "/admin/audit", "/admin/waves"):
        assert expected in paths
    assert "/admin/reports" in paths  # the store's queue is walked too
    for method, path in routes:  # signed out: sent to sign in, or refused
        async with browser.client.request(method, path, headers=browser.headers, allow_redirects=False) as response:
            assert response.status in (303, 403), (method, path, response.status)
    await make_user("fan", can_create_projects=True)
    await sign_in(browser, "fan")
    token = (await browser.get("/settings")).csrf
    for method, path in routes:
        data = {"csrf_token": token, "reason": "x", "count": "1", "note": "x"}
        async with browser.client.request(
            method, path, data=data if method == "POST" else None, headers=browser.headers, allow_redirects=False
        ) as response:
            assert response.status == 403, (method, path, response.status)


async def _admin(browser: Browser, make_user: MakeUser) -> None:
    await make_user("boss", is_admin=True)
    await sign_in(browser, "boss")


async def test_users_are_found_suspended_unsuspended_and_tiered_with_an_audit_row_each(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await _admin(browser, make_user)
    target = await make_user("rowdy_1", email="rowdy@example.org", can_create_projects=True)
    await make_user("other")
    page = await browser.get("/admin/users?q=ROWDY")
    assert page.has("@rowdy_1")
    assert not page.has("@other")
    assert (await browser.get("/admin/users?q=%25")).has("Nobody matches.")  # % is literal
    base = f"/admin/users/{target['id']}"
    assert (await browser.submit(base, f"{base}/suspend", {"reason": ""})).status == 422
    assert (await browser.submit(base, f"{base}/suspend", {"reason": "Spam <b>links</b>"})).status == 303
    row = await pool.fetchrow("SELECT suspended_at, suspension_reason FROM users WHERE id = $1", target["id"])
    assert row["suspended_at"] is not None
    assert row["suspension_reason"] == "Spam <b>links</b>"
    assert (
        await browser.post(f"{base}/suspend", {"reason": "again", "csrf_token": (await browser.get(base)).csrf})
    ).status == 409
    assert (await browser.submit(base, f"{base}/unsuspend", {})).status == 303
    page = await browser.submit(
        base, f"{base}/tier", {"tier": "big_files", "override_mb": "7000", "grandfathered_until": "2099-01-31"}
    )
    assert page.status == 303
    row = await pool.fetchrow(
        "SELECT creator_tier, max_file_override_bytes, grandfathered_until, suspended_at FROM users WHERE id = $1",
        target["id"],
    )
    assert (row["creator_tier"], row["max_file_override_bytes"]) == ("big_files", 7000 << 20)
    assert row["grandfathered_until"].year == 2099
    assert row["suspended_at"] is None
    page = await browser.submit(base, f"{base}/tier", {"tier": "gold", "override_mb": "-1", "grandfathered_until": "x"})
    assert page.status == 422
    assert await pool.fetchval("SELECT creator_tier FROM users WHERE id = $1", target["id"]) == "big_files"
    assert (await browser.get(f"/admin/users/{uuid.uuid4()}")).status == 404
    assert (await browser.get("/admin/users/not-a-uuid")).status == 404
    actions = await pool.fetch("SELECT admin_username, action, target_id FROM admin_audit_log ORDER BY created_at")
    assert [r["action"] for r in actions] == ["user.suspend", "user.unsuspend", "user.set_tier"]
    assert {r["admin_username"] for r in actions} == {"boss"}
    assert {r["target_id"] for r in actions} == {str(target["id"])}
    audit = await browser.get("/admin/audit")
    assert audit.has("user.set_tier")
    assert "<b>links</b>" not in audit.text


async def test_reports_are_decided_and_acted_on(
    browser: Browser, make_user: MakeUser, maker_api: Api, pool: asyncpg.Pool, services: Services
) -> None:
    project = await maker_api.project("tools")
    items = [await maker_api.item(project["id"], slug, visibility="public") for slug in ("one", "two", "three")]
    reporter = await make_user("reporter")
    for item in items:
        await pool.execute(
            "INSERT INTO reports (reporter_id, target_type, target_id, reason) VALUES ($1, 'item', $2, 'spam')",
            reporter["id"],
            uuid.UUID(item["id"]),
        )
    ids = {r["target_id"]: r["id"] for r in await pool.fetch("SELECT id, target_id FROM reports")}
    await _admin(browser, make_user)
    page = await browser.get("/admin/moderation")
    assert page.status == 200
    assert page.has("One")
    first, second, third = (ids[uuid.UUID(item["id"])] for item in items)
    assert (
        await browser.submit("/admin/moderation", f"/admin/moderation/{first}/dismiss", {"note": "fine"})
    ).status == 303
    assert (
        await browser.submit("/admin/moderation", f"/admin/moderation/{second}/unpublish", {"note": ""})
    ).status == 303
    assert await pool.fetchval("SELECT is_public FROM items WHERE id = $1", uuid.UUID(items[1]["id"])) is False
    assert (
        await browser.submit("/admin/moderation", f"/admin/moderation/{third}/suspend", {"note": "spam"})
    ).status == 303
    assert await pool.fetchval("SELECT suspended_at IS NOT NULL FROM users WHERE username = 'maker'")
    statuses = dict(await pool.fetch("SELECT id, status FROM reports"))
    assert statuses == {first: "dismissed", second: "resolved", third: "resolved"}
    assert (await browser.submit("/admin/moderation", f"/admin/moderation/{first}/resolve", {})).status == 409
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM admin_audit_log ORDER BY created_at")]
    assert actions == ["report.dismiss", "report.unpublish", "user.suspend", "report.suspend"]


async def test_stats_show_sign_ups_creators_and_charts(browser: Browser, make_user: MakeUser) -> None:
    await make_user("maker", can_create_projects=True)
    await _admin(browser, make_user)
    page = await browser.get("/admin")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'id="stat-users">2<', page.text)
    assert re.search(r'id="stat-creators">1<', page.text)
    assert page.text.count('<svg class="chart"') == 3
    assert page.has("Sign-ups (2)")


async def test_a_report_action_and_its_audit_row_commit_together(
    browser: Browser, make_user: MakeUser, maker_api: Api, pool: asyncpg.Pool
) -> None:
    """When the audit row cannot be written, the unpublishing and the decision roll back with it: no action is
    ever taken without its record (the audit row used to be written after the store's own transaction)."""
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "one", visibility="public")
    reporter = await make_user("reporter")
    report_id = await pool.fetchval(
        "INSERT INTO reports (reporter_id, target_type, target_id, reason) "
        "VALUES ($1, 'item', $2, 'spam') RETURNING id",
        reporter["id"],
        uuid.UUID(item["id"]),
    )
    await pool.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$"
    )
    await pool.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON admin_audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    )
    await _admin(browser, make_user)
    for action in ("unpublish", "suspend"):
        failed = await browser.submit("/admin/moderation", f"/admin/moderation/{report_id}/{action}", {"note": "x"})
        assert failed.status == 500
        assert await pool.fetchval("SELECT is_public FROM items WHERE id = $1", uuid.UUID(item["id"])) is True
        assert await pool.fetchval("SELECT status FROM reports WHERE id = $1", report_id) == "open"
        assert await pool.fetchval("SELECT suspended_at FROM users WHERE username = 'maker'") is None
    await pool.execute("DROP TRIGGER refuse_audit ON admin_audit_log")
    done = await browser.submit("/admin/moderation", f"/admin/moderation/{report_id}/unpublish", {"note": "x"})
    assert done.status == 303
    assert await pool.fetchval("SELECT is_public FROM items WHERE id = $1", uuid.UUID(item["id"])) is False
    assert await pool.fetchval("SELECT count(*) FROM admin_audit_log WHERE action = 'report.unpublish'") == 1
