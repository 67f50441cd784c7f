"""Per-domain rate limit: mails over it wait, with no attempt used, and other domains still go."""

from __future__ import annotations

import pytest

from mnwd.db.tx import Tx, run_tx
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.services import Services
from tests.outbound.conftest import SmtpSink


@pytest.fixture
def outbound_env() -> dict[str, str]:
    return {"MNWD_MAIL_RATE_PER_DOMAIN": "2", "MNWD_MAIL_RATE_GLOBAL": "100"}


async def test_mails_over_the_per_domain_limit_wait_and_others_go(services: Services, smtp: SmtpSink) -> None:
    async def body(tx: Tx) -> None:
        for n in range(3):
            await enqueue_mail(tx.conn, Mail(to=f"u{n}@example.org", subject="s", text="t"))
        await enqueue_mail(tx.conn, Mail(to="x@other.org", subject="s", text="t"))

    await run_tx(services.pool, "test", body)
    for _ in range(4):
        await services.jobs.run_due(1)
    received = sorted(rcpt for e in smtp.sink.envelopes for rcpt in e.rcpt_tos)
    assert len(received) == 3
    assert "x@other.org" in received
    assert sum(r.endswith("@example.org") for r in received) == 2
    waiting = await services.pool.fetchrow("SELECT state, attempts FROM outbound_mails WHERE state = 'queued'")
    assert waiting is not None
    assert waiting["attempts"] == 0
    later = await services.pool.fetchval(
        "SELECT count(*) FROM jobs WHERE kind = 'outbound.send' AND state = 'queued' AND run_at > now()"
    )
    assert later == 1
    assert await services.jobs.run_due() == 0, "not before the window has room"
