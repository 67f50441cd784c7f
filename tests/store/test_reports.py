"""Reports: the ``/report`` form for items and projects, and the admins' queue at ``/admin/reports``."""

from __future__ import annotations

import asyncio
import re
import uuid
from types import SimpleNamespace

import aiohttp
import pytest

from mnwd.services import Services
from tests.store.social_support import Client, make_creator, make_item, make_project
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page


@pytest.fixture
async def site(alice: Browser, services: Services, make_user: MakeUser, other_browser: Browser) -> SimpleNamespace:
    """bob publishes ``songs`` (item ``spam``) and keeps ``secret`` private; alice is signed in; ``mod`` is an
    admin signed in on ``other_browser``."""
    pool = services.pool
    await make_user("bob")
    bob = await make_creator(pool, "bob")
    await make_user("mod", is_admin=True)
    await sign_in(other_browser, "mod")
    songs = await make_project(pool, bob, "songs", title="Songs")
    return SimpleNamespace(
        songs=songs,
        secret=await make_project(pool, bob, "secret", public=False),
        spam=await make_item(pool, songs, "spam", title="Buy cheap pills"),
        root=other_browser,
    )


def form_path(target_type: str, target_id: uuid.UUID | str) -> str:
    return f"/report?target_type={target_type}&target_id={target_id}"


async def send(browser: Browser, target_type: str, target_id: uuid.UUID | str, **fields: str) -> Page:
    page = await browser.get("/feed")
    data = {"csrf_token": page.csrf, "target_type": target_type, "target_id": str(target_id), **fields}
    return await browser.post("/report", data)


async def test_a_report_is_sent_once_while_open(alice: Browser, site: SimpleNamespace, services: Services) -> None:
    page = await alice.get(form_path("item", site.spam))
    assert page.status == 200
    assert page.has('You are reporting <a href="/@bob/songs/spam">Buy cheap pills</a>.')
    sent = await send(alice, "item", site.spam, reason="spam", details="Links to a pill shop")
    assert sent.status == 303
    assert sent.location == form_path("item", site.spam) + "&sent=1"
    page = await alice.get(sent.location)
    assert page.has("Thank you: your report was sent.")
    assert page.has("You reported this on")
    assert 'id="report-form"' not in page.text

    again = await send(alice, "item", site.spam, reason="other")
    assert again.status == 409
    assert again.has("You reported this already")
    row = await services.pool.fetchrow("SELECT target_type, reason, details, status FROM reports")
    assert dict(row) == {"target_type": "item", "reason": "spam", "details": "Links to a pill shop", "status": "open"}
    # The project is another target.
    assert (await send(alice, "project", site.songs, reason="copyright")).status == 303
    assert await services.pool.fetchval("SELECT count(*) FROM reports") == 2


async def test_two_reports_racing_make_one(alice: Browser, site: SimpleNamespace, services: Services) -> None:
    page = await alice.get(form_path("project", site.songs))
    data = {"csrf_token": page.csrf, "target_type": "project", "target_id": str(site.songs), "reason": "spam"}
    answers = await asyncio.gather(*(alice.post("/report", data) for _ in range(4)))
    assert sorted(a.status for a in answers) == [303, 409, 409, 409]
    assert await services.pool.fetchval("SELECT count(*) FROM reports") == 1


async def test_what_cannot_be_reported(
    alice: Browser, site: SimpleNamespace, services: Services, client: Client
) -> None:
    assert (await alice.get(form_path("project", site.secret))).status == 404  # private, not hers
    assert (await send(alice, "project", site.secret, reason="spam")).status == 404
    assert (await send(alice, "item", site.songs, reason="spam")).status == 404  # a project's id as an item
    assert (await send(alice, "user", site.songs, reason="spam")).status == 404
    assert (await send(alice, "item", "../../etc", reason="spam")).status == 404
    assert (await alice.get("/report")).status == 404
    bad_reason = await send(alice, "item", site.spam, reason="boring")
    assert bad_reason.status == 422
    assert bad_reason.has("Choose a reason.")
    too_long = await send(alice, "item", site.spam, reason="other", details="x" * 4001)
    assert too_long.status == 422
    no_token = await alice.post("/report", {"target_type": "item", "target_id": str(site.spam), "reason": "spam"})
    assert no_token.status == 403
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(client.make_url(form_path("item", site.spam)), allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith("/login?next=")
    assert await services.pool.fetchval("SELECT count(*) FROM reports") == 0


async def test_admins_resolve_and_dismiss_reports(
    alice: Browser, site: SimpleNamespace, services: Services, make_user: MakeUser
) -> None:
    await send(alice, "item", site.spam, reason="spam", details="<script>alert(1)</script>")
    await send(alice, "project", site.songs, reason="copyright")
    root = site.root
    queue = await root.get("/admin/reports")
    assert queue.status == 200
    assert queue.has("Open (2)")
    assert queue.text.index("Buy cheap pills") < queue.text.index(">Songs<")  # oldest first
    assert "<script>alert(1)</script>" not in queue.text
    assert queue.has("Reported by @alice")
    ids = re.findall(r'data-report-id="([0-9a-f-]{36})"', queue.text)
    assert len(ids) == 2

    resolved = await root.post(f"/admin/reports/{ids[0]}/resolve", {"csrf_token": queue.csrf, "note": "Item removed"})
    assert resolved.location == "/admin/reports?saved=resolved"
    dismissed = await root.post(f"/admin/reports/{ids[1]}/dismiss", {"csrf_token": queue.csrf})
    assert dismissed.location == "/admin/reports?saved=dismissed"
    again = await root.post(f"/admin/reports/{ids[1]}/resolve", {"csrf_token": queue.csrf})
    assert again.status == 409
    assert (await root.post(f"/admin/reports/{uuid.uuid4()}/resolve", {"csrf_token": queue.csrf})).status == 404
    assert (await root.post(f"/admin/reports/{ids[0]}/delete", {"csrf_token": queue.csrf})).status == 404

    page = await root.get("/admin/reports?status=resolved")
    assert page.has("Resolved by @mod")
    assert page.has("Item removed")
    assert (await root.get("/admin/reports")).has("No open reports.")
    rows = await services.pool.fetch("SELECT status, resolved_at IS NOT NULL AS closed FROM reports ORDER BY status")
    assert [tuple(r) for r in rows] == [("dismissed", True), ("resolved", True)]
    # Once closed, the same thing can be reported again.
    assert (await send(alice, "item", site.spam, reason="malware")).status == 303

    # Not an admin: refused, and nothing decided.
    assert (await alice.get("/admin/reports")).status == 403
    page = await alice.get("/feed")
    open_id = await services.pool.fetchval("SELECT id FROM reports WHERE status = 'open'")
    assert (await alice.post(f"/admin/reports/{open_id}/dismiss", {"csrf_token": page.csrf})).status == 403
    assert await services.pool.fetchval("SELECT status FROM reports WHERE id = $1", open_id) == "open"
