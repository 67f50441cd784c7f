"""End to end: a broadcast to 2,000 subscribers from a real `mnwd serve` to a real SMTP server (aiosmtpd on
loopback), with the daemon killed by SIGKILL halfway and started again.

The attack on exactly-once: the fan-out and the sends are cut off mid-way; the restarted daemon must queue
nobody twice (recipient rows and idempotency keys) and mail nobody twice, except that SMTP has no two-phase
commit: a mail the server accepted in the instant before the kill, whose ``sent`` was never written, is sent
once more (docs/mail.md). The test allows that many (the job queue's concurrency) and no more.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from mnwd.mailing.broadcasts import create_broadcast, send_broadcast
from mnwd.services import Services
from tests.outbound.conftest import Sink, SmtpSink, run_sink
from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon, start_daemon

# 2,000: four fan-out batches (mnwd.mailing.broadcasts.BATCH = 500) and 2,000 sends, so that the kill, once half
# the mails have arrived, lands in the middle of the sends with batches queued before and after it; what is
# checked holds per mail, so more subscribers add time (5,000 took 75 s on an idle machine), not proof.
SUBSCRIBERS = 2000
JOB_CONCURRENCY = 16  # MNWD_JOB_CONCURRENCY of the daemons here: the mails one daemon can have in flight


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    yield from run_sink(Sink())


async def _wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 150.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _serve(tmp_path: Path, db_url: str, smtp: SmtpSink, name: str) -> RunningDaemon:
    return start_daemon(
        tmp_path / name,
        {
            "DATABASE_URL": db_url,
            "MNWD_SMTP_URL": smtp.url,
            "MNWD_MAIL_FROM": "mnwd <no-reply@mnwd.test>",
            "MNWD_LOG_LEVEL": "warning",
            "MNWD_JOB_CONCURRENCY": str(JOB_CONCURRENCY),
            # Daemons of one deployment share the secret key: the unsubscribe links one signs, another checks.
            "MNWD_SECRET_KEY": "broadcast-test-secret-key-0123456789",
        },
    )


async def _expire_leases(pool: asyncpg.Pool) -> None:
    """What waiting out the dead daemon's job leases (60 s) would do, without the wait."""
    await pool.execute("UPDATE jobs SET locked_until = now() - interval '1 second' WHERE state = 'running'")


@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_a_broadcast_survives_sigkill_and_mails_each_subscriber_once(
    tmp_path: Path, db_url: str, services: Services, make_user: MakeUser, smtp: SmtpSink
) -> None:
    pool = services.pool
    maker = await make_user("maker", can_create_projects=True)
    project = await pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type, is_public) VALUES ($1, 'tools', 'Tools', 'software',"
        " true) RETURNING id",
        maker["id"],
    )
    list_id = await pool.fetchval(
        "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, 'content', 'News') RETURNING id", project
    )
    confirmed = [f"fan{i}@example.org" for i in range(SUBSCRIBERS)]
    await pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at)"
        " SELECT $1, e, now() FROM unnest($2::text[]) e",
        list_id,
        confirmed,
    )
    await pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email) SELECT $1, 'pending' || i || '@example.org'"
        " FROM generate_series(1, 50) i",
        list_id,
    )
    await pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at)"
        " SELECT $1, 'bounced' || i || '@example.org', now() FROM generate_series(1, 50) i",
        list_id,
    )
    await pool.execute(
        "INSERT INTO email_suppressions (email, reason) SELECT 'BOUNCED' || i || '@example.org', 'HardBounce'"
        " FROM generate_series(1, 50) i"
    )
    broadcast_id = await create_broadcast(services, maker["id"], list_id, "News for you", "**Hello** fans.")
    await send_broadcast(services, maker["id"], broadcast_id)

    first = _serve(tmp_path, db_url, smtp, "first")
    try:
        await _wait_for("half the mails", lambda: _received_at_least(smtp, SUBSCRIBERS // 2))
    finally:
        first.stop(signal.SIGKILL)
    received_before = len(smtp.sink.envelopes)
    assert received_before < SUBSCRIBERS, "the daemon was to be killed halfway"
    await _expire_leases(pool)

    second = _serve(tmp_path, db_url, smtp, "second")
    try:

        async def all_done() -> bool:
            left = await pool.fetchval("SELECT count(*) FROM outbound_mails WHERE state = 'queued'")
            status = await pool.fetchval("SELECT status FROM mailing_broadcasts WHERE id = $1", broadcast_id)
            return bool(status == "sent" and left == 0)

        await _wait_for("every mail sent", all_done)

        messages = smtp.sink.headers()
        per_address = collections.Counter(str(m["To"]) for m in messages)
        assert set(per_address) == set(confirmed)  # no pending, no suppressed address got anything
        duplicates = sum(n - 1 for n in per_address.values())
        assert duplicates <= JOB_CONCURRENCY, per_address.most_common(5)
        # Queued once each, whatever the kill interrupted.
        assert await pool.fetchval("SELECT count(*) FROM outbound_mails") == SUBSCRIBERS
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM mailing_broadcast_recipients WHERE broadcast_id = $1", broadcast_id
            )
            == SUBSCRIBERS
        )

        # RFC 8058 on what the server received, and the one-click POST against the daemon, without cookies.
        message = next(m for m in messages if m["To"] == "fan7@example.org")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        match = re.fullmatch(r"<https?://[^/]+(/lists/unsubscribe/[A-Za-z0-9_.-]+)>", str(message["List-Unsubscribe"]))
        assert match, message["List-Unsubscribe"]
        request = urllib.request.Request(
            second.base_url + match.group(1),
            data=b"List-Unsubscribe=One-Click",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert await asyncio.to_thread(_status_of, request) == 200
        assert (
            await pool.fetchval(
                "SELECT unsubscribed_broadcast_id FROM mailing_list_subscribers WHERE email = 'fan7@example.org'"
            )
            == broadcast_id
        )
    finally:
        second.stop()


def _status_of(request: urllib.request.Request) -> int:
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


async def _received_at_least(smtp: SmtpSink, count: int) -> bool:
    return len(smtp.sink.envelopes) >= count
