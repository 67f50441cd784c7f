"""Broadcasts in-process (mail written to the outbox): write, preview, test, send to confirmed subscribers only,
RFC 8058 headers, counts, scheduling, and a fan-out run twice that mails nobody twice."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from mnwd.db.jobs import Job
from mnwd.mailing.broadcasts import run_broadcast_job
from mnwd.services import Services
from tests.mailing.conftest import Creator, body_text, outbox
from tests.support.accounts import MakeUser
from tests.support.browser import Browser
from tests.support.outbound import run_jobs


async def _run_jobs(services: Services) -> None:
    await run_jobs(services)


async def _add(
    services: Services, list_id: str, email: str, *, confirmed: bool = True, unsubscribed: bool = False
) -> Any:
    return await services.pool.fetchval(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at, unsubscribed_at)"
        " VALUES ($1, $2, CASE WHEN $3 THEN now() END, CASE WHEN $4 THEN now() END) RETURNING id",
        list_id,
        email,
        confirmed,
        unsubscribed,
    )


async def _new_broadcast(browser: Browser, list_id: str, subject: str, body: str) -> str:
    created = await browser.submit(
        f"/dashboard/lists/{list_id}", f"/dashboard/lists/{list_id}/broadcasts", {"subject": subject, "body": body}
    )
    assert created.status == 303, created.text
    assert created.location is not None
    return created.location.split("?")[0]


async def _act(browser: Browser, path: str, action: str, **fields: str) -> Any:
    page = await browser.get(path)
    return await browser.post(path, {"csrf_token": page.csrf, "action": action, **fields})


def _counts(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'<dd id="n-([a-z]+)">(\d+)</dd>', text)}


async def test_broadcast_reaches_confirmed_subscribers_once_with_one_click_unsubscribe(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
    creator_browser: Browser,
    make_user: MakeUser,
) -> None:
    list_id = await creator.new_list("Releases")
    for address in ("a@example.org", "b@example.org"):
        await _add(services, list_id, address)
    await _add(services, list_id, "pending@example.org", confirmed=False)
    await _add(services, list_id, "left@example.org", unsubscribed=True)
    await _add(services, list_id, "gone@example.org")
    await _add(services, list_id, "FAN@example.org")  # also subscribed below as the user "fan": mailed once
    await services.pool.execute(
        "INSERT INTO email_suppressions (email, reason) VALUES ('GONE@example.org', 'HardBounce')"
    )
    fan = await make_user("fan")
    await services.pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, user_id, confirmed_at) VALUES ($1, $2, now())",
        list_id,
        fan["id"],
    )

    path = await _new_broadcast(
        creator_browser,
        list_id,
        "Version 2 is out",
        "**Big** news.\n\n<script>alert(1)</script>\n\n[Notes](https://example.org/notes)",
    )
    page = await creator_browser.get(path)
    assert "<strong>Big</strong> news." in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert _counts(page.text)["remaining"] == 3

    # A test goes to the creator only, without list headers.
    assert (await _act(creator_browser, path, "test")).status == 303
    await _run_jobs(services)
    [test_mail] = outbox(services)
    assert test_mail["To"] == "maker@example.org"
    assert test_mail["Subject"] == "[Test] Version 2 is out"
    assert test_mail["List-Unsubscribe"] is None

    sent = await _act(creator_browser, path, "send")
    assert sent.status == 303
    await _run_jobs(services)
    mails = outbox(services)[1:]
    assert sorted(m["To"] for m in mails) == ["a@example.org", "b@example.org", "fan@example.org"]
    for mail in mails:
        assert mail["Subject"] == "Version 2 is out"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        match = re.fullmatch(r"<(https?://[^>]+/lists/unsubscribe/[A-Za-z0-9_.-]+)>", str(mail["List-Unsubscribe"]))
        assert match, mail["List-Unsubscribe"]
        assert match.group(1) in body_text(mail)
        html = str(mail.get_body(preferencelist=("html",)).get_content())
        assert "<strong>Big</strong>" in html
        assert "<script>" not in html

    # One click from the mail provider: a POST without cookies or CSRF token.
    a_mail = next(m for m in mails if m["To"] == "a@example.org")
    url = re.sub(r"^https?://[^/]+", "", str(a_mail["List-Unsubscribe"]).strip("<>"))
    async with (
        ClientSession() as provider,
        provider.post(str(client.make_url(url)), data={"List-Unsubscribe": "One-Click"}) as response,
    ):
        assert response.status == 200
    assert await services.pool.fetchval(
        "SELECT unsubscribed_at IS NOT NULL FROM mailing_list_subscribers WHERE email = 'a@example.org'"
    )

    page = await creator_browser.get(path)
    assert '<strong id="broadcast-status">sent</strong>' in page.text
    counts = _counts(page.text)
    assert (counts["queued"], counts["sent"], counts["bounced"], counts["unsubscribed"]) == (3, 3, 0, 1)

    # Sent is sent: neither sent again nor changed.
    assert (await _act(creator_browser, path, "send")).status == 409
    assert (await _act(creator_browser, path, "save", subject="x", body="y")).status == 409
    await _run_jobs(services)
    assert len(outbox(services)) == 4


async def test_a_fan_out_run_again_mails_nobody_twice(
    services: Services, creator: Creator, creator_browser: Browser
) -> None:
    list_id = await creator.new_list()
    await services.pool.execute(  # more than two batches, in one statement
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at)"
        " SELECT $1, 'fan' || i || '@example.org', now() FROM generate_series(0, 1199) i",
        list_id,
    )
    path = await _new_broadcast(creator_browser, list_id, "Hello", "Hi.")
    broadcast_id = uuid.UUID(path.rsplit("/", 1)[1])
    assert (await _act(creator_browser, path, "send")).status == 303
    job = Job(
        uuid.uuid4(),
        "mailing.broadcast",
        {"broadcast_id": str(broadcast_id)},
        1,
        50,
        f"{broadcast_id}:now",
        datetime.now(UTC),
    )
    await run_broadcast_job(services, job)
    assert await services.pool.fetchval("SELECT count(*) FROM outbound_mails") == 1200
    # As if the daemon died after queueing but before the cursor was saved: back to the start.
    await services.pool.execute(
        "UPDATE mailing_broadcasts SET status = 'sending', cursor_subscriber = NULL, finished_at = NULL"
    )
    await run_broadcast_job(services, job)
    await run_broadcast_job(services, job)
    assert await services.pool.fetchval("SELECT count(*) FROM outbound_mails") == 1200
    assert await services.pool.fetchval("SELECT count(DISTINCT recipient) FROM outbound_mails") == 1200
    assert await services.pool.fetchval("SELECT status FROM mailing_broadcasts") == "sent"


async def test_schedule_and_unschedule(services: Services, creator: Creator, creator_browser: Browser) -> None:
    list_id = await creator.new_list()
    await _add(services, list_id, "a@example.org")
    path = await _new_broadcast(creator_browser, list_id, "Later", "Soon.")
    bad = await _act(creator_browser, path, "schedule", scheduled_at="tomorrow-ish")
    assert bad.status == 422
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert (await _act(creator_browser, path, "schedule", scheduled_at=later)).status == 303
    page = await creator_browser.get(path)
    assert '<strong id="broadcast-status">scheduled</strong>' in page.text
    await _run_jobs(services)
    assert outbox(services) == []
    assert (await _act(creator_browser, path, "unschedule")).status == 303
    assert await services.pool.fetchval("SELECT status FROM mailing_broadcasts") == "draft"
    # The old schedule's job, run late, sends nothing; the draft can be sent now.
    await services.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = 'mailing.broadcast'")
    await _run_jobs(services)
    assert outbox(services) == []
    assert (await _act(creator_browser, path, "send")).status == 303
    await _run_jobs(services)
    assert [m["To"] for m in outbox(services)] == ["a@example.org"]


async def test_broadcast_input_and_other_creators(
    services: Services, creator: Creator, creator_browser: Browser, rival: Creator
) -> None:
    list_id = await creator.new_list()
    for subject, body in (("", "x"), ("a\nb", "x"), ("x" * 201, "x"), ("ok", "x" * 100_001)):
        page = await creator_browser.submit(
            f"/dashboard/lists/{list_id}", f"/dashboard/lists/{list_id}/broadcasts", {"subject": subject, "body": body}
        )
        assert page.status == 422, subject
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_broadcasts") == 0
    rival_list = await rival.new_list()
    page = await creator_browser.submit(
        f"/dashboard/lists/{list_id}", f"/dashboard/lists/{rival_list}/broadcasts", {"subject": "Hi", "body": "x"}
    )
    assert page.status == 404
    path = await _new_broadcast(creator_browser, list_id, "Mine", "x")
    await services.pool.execute("UPDATE mailing_broadcasts SET list_id = $1", rival_list)
    assert (await creator_browser.get(path)).status == 404
