"""SMTP connections kept open between mails (`SmtpMailer(keep_connections=...)`, which the outbound queue
uses): what the server sees, and what happens when it drops a kept connection or a send is cut short."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from mnwd.db.tx import Tx, run_tx
from mnwd.mail import Mail, MailError, SmtpMailer
from mnwd.outbound import enqueue_mail
from mnwd.services import Services
from tests.outbound.conftest import Sink, SmtpSink, run_sink

SENDER = "mnwd <no-reply@mnwd.test>"


def hello(n: int) -> Mail:
    return Mail(to=f"reader{n}@example.org", subject=f"Hello {n}", text="Hi\n")


@pytest.fixture
async def mailer(smtp: SmtpSink) -> AsyncIterator[SmtpMailer]:
    kept = SmtpMailer(smtp.url, sender=SENDER, timeout=5, keep_connections=4, mails_per_connection=3)
    try:
        yield kept
    finally:
        await kept.close()


async def wait_until(what: str, check: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_mails_one_after_another_share_a_connection_until_its_mail_count(
    mailer: SmtpMailer, smtp: SmtpSink
) -> None:
    for n in range(4):
        await mailer.send(hello(n))
    assert [str(m["To"]) for m in smtp.sink.messages()] == [f"reader{n}@example.org" for n in range(4)]
    first, second, third, fourth = smtp.sink.peers
    assert first == second == third, "one connection for the first three mails"
    assert fourth != first, "a new one after mails_per_connection"
    await wait_until("the full connection's QUIT", lambda: smtp.sink.quits == 1)
    await mailer.close()
    assert smtp.sink.quits == 2, "close says goodbye on the kept connection"


async def test_concurrent_mails_each_take_a_connection_and_keep_at_most_the_pool_size(
    mailer: SmtpMailer, smtp: SmtpSink
) -> None:
    await asyncio.gather(*(mailer.send(hello(n)) for n in range(8)))
    assert sorted(str(m["To"]) for m in smtp.sink.messages()) == sorted(f"reader{n}@example.org" for n in range(8))
    opened = set(smtp.sink.peers)
    assert len(opened) <= 8
    assert smtp.sink.quits == len(opened) - 4, "all but four connections closed after their mail"
    await asyncio.gather(*(mailer.send(hello(n)) for n in range(8, 12)))
    assert set(smtp.sink.peers[8:]) <= opened, "the next four mails went over kept connections"
    await mailer.close()
    assert smtp.sink.quits == len(opened)


async def test_a_kept_connection_is_closed_after_its_idle_time(smtp: SmtpSink) -> None:
    mailer = SmtpMailer(smtp.url, sender=SENDER, timeout=5, keep_connections=1, idle_seconds=0.2)
    try:
        await mailer.send(hello(1))
        assert smtp.sink.quits == 0
        await wait_until("the idle connection's QUIT", lambda: smtp.sink.quits == 1)
        await mailer.send(hello(2))
        first, second = smtp.sink.peers
        assert first != second
    finally:
        await mailer.close()
    assert smtp.sink.quits == 2


async def test_a_kept_connection_the_server_is_closing_is_replaced_before_the_mail_starts(
    mailer: SmtpMailer, smtp: SmtpSink
) -> None:
    await mailer.send(hello(1))
    smtp.sink.noop_replies.append("421 4.3.2 Service shutting down, closing channel")
    await mailer.send(hello(2))
    assert [str(m["To"]) for m in smtp.sink.messages()] == ["reader1@example.org", "reader2@example.org"]
    first, second = smtp.sink.peers
    assert first != second, "the second mail went over a new connection"


async def test_a_failure_on_a_kept_connection_is_the_mails_own_and_not_retried_at_once(
    mailer: SmtpMailer, smtp: SmtpSink
) -> None:
    """Once the mail has started on a kept connection, a failure is a temporary one for the queue to retry
    (with its backoff), as on a new connection: retrying at once could send a message the server took twice."""
    await mailer.send(hello(1))
    smtp.sink.mail_replies.append("421 4.3.2 Service shutting down, closing channel")
    with pytest.raises(MailError) as failure:
        await mailer.send(hello(2))
    assert failure.value.code == 421
    await mailer.send(hello(3))
    assert [str(m["To"]) for m in smtp.sink.messages()] == ["reader1@example.org", "reader3@example.org"]
    first, third = smtp.sink.peers
    assert first != third, "the connection that failed is not used again"


async def test_a_connection_the_server_closed_for_idleness_is_not_used() -> None:
    """aiosmtpd's own idle timeout (its ``timeout``) closes the connection the mailer keeps."""
    for smtp in run_sink(Sink(), timeout=0.3):
        mailer = SmtpMailer(smtp.url, sender=SENDER, timeout=5, keep_connections=1, idle_seconds=30)
        try:
            await mailer.send(hello(1))
            await asyncio.sleep(0.6)
            await mailer.send(hello(2))
        finally:
            await mailer.close()
        assert [str(m["To"]) for m in smtp.sink.messages()] == ["reader1@example.org", "reader2@example.org"]
        first, second = smtp.sink.peers
        assert first != second


async def test_a_421_on_a_new_connection_is_a_temporary_failure(mailer: SmtpMailer, smtp: SmtpSink) -> None:
    smtp.sink.mail_replies.append("421 4.3.2 Service shutting down, closing channel")
    with pytest.raises(MailError) as failure:
        await mailer.send(hello(1))
    assert failure.value.code == 421
    assert smtp.sink.envelopes == []


async def test_a_refused_mail_does_not_spoil_the_connection_for_the_next(mailer: SmtpMailer, smtp: SmtpSink) -> None:
    await mailer.send(hello(1))
    smtp.sink.refused["reader2@example.org"] = "550 5.1.1 User unknown"
    with pytest.raises(MailError) as failure:
        await mailer.send(hello(2))
    assert failure.value.code == 550
    assert "reader2@" not in str(failure.value), "the address is reduced to its domain"
    await mailer.send(hello(3))
    assert [str(m["To"]) for m in smtp.sink.messages()] == ["reader1@example.org", "reader3@example.org"]


async def test_a_send_cancelled_on_a_kept_connection_lets_go_of_it_at_once(mailer: SmtpMailer, smtp: SmtpSink) -> None:
    await mailer.send(hello(1))
    smtp.sink.stall_before_receiving = True
    sending = asyncio.ensure_future(mailer.send(hello(2)))
    await asyncio.sleep(0.3)
    assert not sending.done()
    started = time.monotonic()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert time.monotonic() - started < 2
    smtp.sink.stall_before_receiving = False
    await mailer.send(hello(3))
    first, third = smtp.sink.peers
    assert first != third, "the connection cut short mid-mail is not used again"


async def test_the_queue_sends_its_mails_over_one_connection(services: Services, smtp: SmtpSink) -> None:
    async def body(tx: Tx) -> list[uuid.UUID | None]:
        return [await enqueue_mail(tx.conn, hello(n)) for n in range(5)]

    ids = await run_tx(services.pool, "test.enqueue", body)
    for _ in range(5):
        assert await services.jobs.run_due(1) == 1
    assert len(smtp.sink.envelopes) == 5
    assert len(set(smtp.sink.peers)) == 1
    states = await services.pool.fetch("SELECT state, attempts FROM outbound_mails WHERE id = ANY($1)", ids)
    assert [(r["state"], r["attempts"]) for r in states] == [("sent", 1)] * 5
