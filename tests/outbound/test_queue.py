"""The outbound queue against a real SMTP server (aiosmtpd on loopback): what arrives, what is retried, what
is given up, and what a killed daemon leaves behind."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid

import pytest

from mnwd.db.jobs import JobQueue
from mnwd.db.tx import Tx, run_tx
from mnwd.mail import Mail, SmtpMailer, build_message, check_mail
from mnwd.outbound import enqueue_mail, is_suppressed, mail_state
from mnwd.outbound.queue import SEND_KIND, send_queued_mail
from mnwd.services import Services
from tests.outbound.conftest import SmtpSink


def hello(to: str = "bob@example.org", **more: str) -> Mail:
    return Mail(to=to, subject="Hello", text="Hi Bob\nhttps://mnwd.test/link/abc\n", **more)  # type: ignore[arg-type]


async def queue(services: Services, mail: Mail, **options: object) -> uuid.UUID | None:
    async def body(tx: Tx) -> uuid.UUID | None:
        return await enqueue_mail(tx.conn, mail, **options)  # type: ignore[arg-type]

    return await run_tx(services.pool, "test.enqueue", body)


async def stored(services: Services, mail_id: uuid.UUID) -> dict[str, object]:
    row = await services.pool.fetchrow(
        "SELECT state, attempts, message::text AS message, last_error FROM outbound_mails WHERE id = $1", mail_id
    )
    assert row is not None
    return dict(row)


async def test_a_queued_mail_arrives_once_with_its_extra_headers(services: Services, smtp: SmtpSink) -> None:
    mail_id = await queue(
        services,
        hello(),
        stream="notification",
        headers={"List-Unsubscribe": "<https://mnwd.test/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    assert mail_id is not None
    assert smtp.sink.envelopes == []  # nothing is sent before a worker runs
    assert await mail_state(services.pool, mail_id) == "queued"
    assert await services.jobs.run_due() == 1
    [message] = smtp.sink.messages()
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == "Hello"
    assert message["List-Unsubscribe"] == "<https://mnwd.test/u/x>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://mnwd.test/link/abc" in message.get_body().get_content()  # type: ignore[union-attr]
    row = await stored(services, mail_id)
    assert row["state"] == "sent"
    assert row["message"] == "{}", "the body (a sign-in link) is not kept once sent"
    assert await services.jobs.run_due() == 0
    assert len(smtp.sink.envelopes) == 1


async def test_a_rolled_back_transaction_queues_nothing(services: Services, smtp: SmtpSink) -> None:
    class Boom(Exception):
        """The caller's own failure, after the mail was queued in its transaction."""

    async def body(tx: Tx) -> None:
        await enqueue_mail(tx.conn, hello())
        raise Boom

    with pytest.raises(Boom):
        await run_tx(services.pool, "test.enqueue", body)
    assert await services.jobs.run_due() == 0
    assert await services.pool.fetchval("SELECT count(*) FROM outbound_mails") == 0
    assert smtp.sink.envelopes == []


async def test_suppressed_addresses_and_used_keys_queue_nothing(services: Services, smtp: SmtpSink) -> None:
    await services.pool.execute(
        "INSERT INTO email_suppressions (email, reason) VALUES ('Carol@Example.org', 'HardBounce')"
    )
    assert await queue(services, hello("carol@EXAMPLE.ORG")) is None
    assert await queue(services, hello("Carol <carol@example.org>")) is None
    assert await is_suppressed(services.pool, "CAROL@example.org")
    first = await queue(services, hello(), key="welcome:1")
    assert first is not None
    assert await queue(services, hello(), key="welcome:1") is None
    assert await services.jobs.run_due() == 1
    assert [m["To"] for m in smtp.sink.messages()] == ["bob@example.org"]


@pytest.mark.parametrize(
    "bad",
    [
        Mail(to="a@x.org, b@x.org", subject="s", text="t"),
        Mail(to="a@x.org", subject="two\nlines", text="t"),
        Mail(to="a@x.org", subject="s", text="t", headers={"Bcc": "c@x.org"}),
        Mail(to="", subject="s", text="t"),
    ],
)
async def test_a_malformed_mail_is_refused_before_anything_is_written(services: Services, bad: Mail) -> None:
    with pytest.raises(ValueError, match=r"."):
        await queue(services, bad)
    assert await services.pool.fetchval("SELECT count(*) FROM outbound_mails") == 0
    assert await services.pool.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_key_that_is_empty_or_huge_is_refused(services: Services) -> None:
    for key in ("", "k" * 201):
        with pytest.raises(ValueError, match="mail key must be 1 to 200 characters"):
            await queue(services, hello(), key=key)


async def test_a_temporary_failure_is_retried_and_then_delivered_once(services: Services, smtp: SmtpSink) -> None:
    smtp.sink.replies.append("451 4.3.0 Try again later")
    mail_id = await queue(services, hello())
    assert mail_id is not None
    assert await services.jobs.run_due() == 1
    assert smtp.sink.envelopes == []
    row = await stored(services, mail_id)
    assert row["state"] == "queued"
    assert row["attempts"] == 1
    assert "451" in str(row["last_error"])
    job = await services.pool.fetchrow("SELECT state, run_at > now() AS later FROM jobs WHERE kind = $1", SEND_KIND)
    assert job is not None
    assert job["state"] == "queued"
    assert job["later"], "retried after a backoff"
    await services.pool.execute("UPDATE jobs SET run_at = now()")
    assert await services.jobs.run_due() == 1
    assert len(smtp.sink.envelopes) == 1
    assert (await stored(services, mail_id))["state"] == "sent"


async def test_an_unreachable_server_is_a_temporary_failure(services: Services, smtp: SmtpSink) -> None:
    mail_id = await queue(services, hello())
    assert mail_id is not None
    await services.pool.execute("UPDATE jobs SET max_attempts = 1")
    services.mailer._server = services.mailer._server.__class__(False, "127.0.0.1", 9, None, None)  # type: ignore[attr-defined]
    assert await services.jobs.run_due() == 1
    row = await stored(services, mail_id)
    assert row["state"] == "failed", "given up after its last attempt"
    assert row["message"] == "{}"
    assert not await is_suppressed(services.pool, "bob@example.org"), "a connection failure is not a bounce"


async def test_a_permanent_refusal_gives_up_and_suppresses_the_address(services: Services, smtp: SmtpSink) -> None:
    smtp.sink.refused["gone@example.org"] = "550 5.1.1 <gone@example.org>: User unknown"
    mail_id = await queue(services, hello("Gone@Example.org"))
    assert mail_id is not None
    assert await services.jobs.run_due() == 1
    assert (await stored(services, mail_id))["state"] == "failed"
    assert await services.pool.fetchval("SELECT state FROM jobs WHERE kind = $1", SEND_KIND) == "dead"
    reason = await services.pool.fetchval(
        "SELECT reason FROM email_suppressions WHERE lower(email) = 'gone@example.org'"
    )
    assert reason == "HardBounce"
    assert await queue(services, hello("gone@example.org")) is None


async def test_an_address_suppressed_after_queueing_gets_nothing(services: Services, smtp: SmtpSink) -> None:
    mail_id = await queue(services, hello())
    assert mail_id is not None
    await services.pool.execute("INSERT INTO email_suppressions (email, reason) VALUES ('BOB@example.org', 'Manual')")
    assert await services.jobs.run_due() == 1
    assert smtp.sink.envelopes == []
    assert await mail_state(services.pool, mail_id) == "suppressed"


def short_lease_queue(services: Services) -> JobQueue:
    jobs = JobQueue(services.pool, lease=0.5)
    jobs.register(SEND_KIND, functools.partial(send_queued_mail, services))
    return jobs


async def kill_mid_send(services: Services, smtp: SmtpSink) -> None:
    """Run the mail's job and cut it off while the server holds the DATA reply, as `kill -9` would: the
    job's task is cancelled without `stop()`, so its row stays running until the lease runs out."""
    crashed = asyncio.ensure_future(short_lease_queue(services).run_due())
    for _ in range(200):
        await asyncio.sleep(0.02)
        state = await services.pool.fetchval("SELECT state FROM jobs WHERE kind = $1", SEND_KIND)
        if state == "running" and (smtp.sink.envelopes or smtp.sink.stall_before_receiving):
            break
    await asyncio.sleep(0.1)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    smtp.sink.stall_after_receiving = smtp.sink.stall_before_receiving = False
    await asyncio.sleep(0.6)  # the lease runs out


async def test_a_daemon_killed_before_the_server_took_the_mail_loses_nothing(
    services: Services, smtp: SmtpSink
) -> None:
    mail_id = await queue(services, hello())
    assert mail_id is not None
    smtp.sink.stall_before_receiving = True
    await kill_mid_send(services, smtp)
    assert smtp.sink.envelopes == []
    assert await mail_state(services.pool, mail_id) == "queued"
    assert await short_lease_queue(services).run_due() == 1
    assert len(smtp.sink.envelopes) == 1
    assert await mail_state(services.pool, mail_id) == "sent"


async def test_a_daemon_killed_after_the_server_took_the_mail_sends_it_once_more_at_most(
    services: Services, smtp: SmtpSink
) -> None:
    mail_id = await queue(services, hello())
    assert mail_id is not None
    smtp.sink.stall_after_receiving = True
    await kill_mid_send(services, smtp)
    assert len(smtp.sink.envelopes) == 1
    assert await short_lease_queue(services).run_due() == 1
    assert len(smtp.sink.envelopes) == 2, "the documented duplicate: one per crash"
    first, second = smtp.sink.messages()
    assert first["Message-ID"] == second["Message-ID"] == f"<{mail_id}@mnwd.test>", "the copy says it is one"
    assert await mail_state(services.pool, mail_id) == "sent"
    await asyncio.sleep(0.6)
    assert await short_lease_queue(services).run_due() == 0
    assert len(smtp.sink.envelopes) == 2


@pytest.mark.parametrize("message_id", ["plain", "<no-at>", "<a b@c>", "<x@y>\r\nBcc: z@w", "<" + "x" * 250 + "@y>"])
def test_a_malformed_message_id_is_refused(message_id: str) -> None:
    mail = Mail(to="a@x.org", subject="s", text="t", message_id=message_id)
    with pytest.raises(ValueError, match="message_id"):
        check_mail(mail)
    with pytest.raises(ValueError, match="message_id"):
        build_message(mail, sender="a@mnwd.test")
    assert (
        build_message(Mail(to="a@x.org", subject="s", text="t", message_id="<1@mnwd.test>"), sender="a@mnwd.test")[
            "Message-ID"
        ]
        == "<1@mnwd.test>"
    )


async def test_a_cancelled_send_lets_go_of_a_server_that_holds_its_reply_at_once(smtp: SmtpSink) -> None:
    """A daemon stopping cuts its sends short: it must not wait out the 30 s timeout on a polite QUIT to a
    server that has not answered DATA (aiosmtplib's context manager does; the kill tests took 31 s)."""
    smtp.sink.stall_before_receiving = True
    mailer = SmtpMailer(smtp.url, sender="mnwd <no-reply@mnwd.test>")
    sending = asyncio.ensure_future(mailer.send(Mail(to="bob@example.org", subject="Hello", text="Hi")))
    await asyncio.sleep(0.5)
    assert not sending.done()
    started = time.monotonic()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert time.monotonic() - started < 5
