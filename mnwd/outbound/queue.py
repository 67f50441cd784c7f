"""The outbound mail queue: every mail is a row, sent by whichever daemon's worker takes it.

Interface::

    mail_id = await enqueue_mail(tx.conn, Mail(to=..., subject=..., text=...), key=f"reset:{user_id}")
    tx.after_commit(services.jobs.wake)     # optional: send now rather than at the next poll (≤ 5 s)

`enqueue_mail` inserts one ``outbound_mails`` row and one ``outbound.send`` job (`mnwd.db.jobs`) naming it, in
the caller's transaction: the mail exists exactly when the caller commits. It returns None, inserting
nothing, when the recipient is in ``email_suppressions`` (compared case-insensitively) or ``key`` was used
by a mail still kept (30 days after it finished). ``stream`` names the kind of mail (``transactional``,
``notification``, ``list``...) for counts and for the suppression record. ``headers`` are added to the
mail's own (``List-Unsubscribe``...). A malformed mail raises ValueError before anything is written.

`send_queued_mail` is the job's handler. Guarantees:

- **Nothing is lost.** The row stays ``queued`` until the server accepted the message; a daemon killed
  before that leaves the job's lease to run out, and another daemon sends the mail.
- **A duplicate at most once per crash.** A daemon killed after the server accepted the message but before
  the row was marked ``sent`` (one UPDATE later) leaves it ``queued``: the mail is sent once more, with the
  same ``Message-ID`` (``<mail id@sender's domain>``), by which mail clients can tell it is a copy. Nothing
  else sends a mail twice: a job that finds its mail finished does nothing, and two daemons never run one
  job at once (the job queue's lease).
- **Temporary failures** (a 4xx reply, no connection, a time-out) are retried with the job queue's
  exponential backoff, up to `MAX_ATTEMPTS` attempts; the mail is then ``failed``.
- **Permanent failures** (a 5xx reply other than 530 to 539, which say the sender's login is wrong) give up at
  once: the mail is ``failed`` and its recipient suppressed as a hard bounce. A malformed mail is ``failed``.
- **Suppressed after it was queued**: the mail is ``suppressed`` and not sent.
- **Rate limits** (``MNWD_MAIL_RATE_GLOBAL``, ``MNWD_MAIL_RATE_PER_DOMAIN``, per minute, counted in the
  database so all daemons share them): a mail over a limit is put back with a new job due when the limit
  allows; that costs it no attempt.

The message (which may hold a sign-in link) is removed from the row when the mail finishes; finished rows
are deleted after 30 days by `sweep_mails`.

Throughput: the mailer (`mnwd.mail.SmtpMailer`, built by this domain's start with one kept connection per
job the loop runs at once) sends each mail over a connection an earlier mail left open, so a mail costs one
SMTP transaction and a NOOP, not a connection, greeting and goodbye. A kept connection the server dropped
fails its NOOP and is replaced inside the send, before any of the mail went out (no attempt used); this
changes none of the guarantees above: a job still sends one mail and marks it before it ends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from mnwd.db.jobs import Job, PermanentJobError, enqueue
from mnwd.errors import TooManyRequests
from mnwd.mail import Mail, MailError, check_mail, parse_address
from mnwd.outbound import queries
from mnwd.outbound.settings import OutboundSettings
from mnwd.ratelimit import Limit
from mnwd.services import Services

__all__ = [
    "MAX_ATTEMPTS",
    "SEND_KIND",
    "enqueue_mail",
    "is_suppressed",
    "mail_state",
    "send_queued_mail",
    "sweep_mails",
]

log = logging.getLogger(__name__)

SEND_KIND = "outbound.send"
MAX_ATTEMPTS = 8
KEEP_FINISHED = timedelta(days=30)
MAX_KEY_LENGTH = 200


async def enqueue_mail(
    conn: asyncpg.Connection | asyncpg.Pool,
    mail: Mail,
    *,
    stream: str = "transactional",
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> uuid.UUID | None:
    """Queue ``mail`` in ``conn``'s transaction; its id, or None if the recipient is suppressed or ``key`` used."""
    if key is not None and (not 1 <= len(key) <= MAX_KEY_LENGTH or "\x00" in key):
        raise ValueError(f"mail key must be 1 to {MAX_KEY_LENGTH} characters, without NUL")
    all_headers = {**mail.headers, **(headers or {})}
    # A caller's message_id is not kept: the queue gives each mail its own (see send_queued_mail).
    mail = Mail(to=mail.to, subject=mail.subject, text=mail.text, html=mail.html, headers=all_headers)
    address = check_mail(mail)  # ValueError now, not in the worker
    message = {"to": mail.to, "subject": mail.subject, "text": mail.text, "html": mail.html, "headers": all_headers}
    text = orjson.dumps(message).decode()
    if "\\u0000" in text:
        raise ValueError("mail holds a NUL character")
    mail_id = await queries.insert_mail(conn, stream, address.addr_spec, address.domain, text, key)
    if mail_id is None:
        return None
    await enqueue(conn, SEND_KIND, {"mail_id": str(mail_id)}, max_attempts=MAX_ATTEMPTS)
    return mail_id


async def is_suppressed(conn: asyncpg.Connection | asyncpg.Pool, email: str) -> bool:
    return await queries.get_suppression(conn, email) is not None


async def mail_state(conn: asyncpg.Connection | asyncpg.Pool, mail_id: uuid.UUID) -> str | None:
    """``queued``, ``sent``, ``failed`` or ``suppressed``; None if there is no such mail (or it was swept)."""
    return await queries.get_mail_state(conn, mail_id)


def _mail_from_row(message: dict[str, Any], mail_id: uuid.UUID, sender: str) -> Mail:
    """The queued mail, its Message-ID made of its id: every copy of it sent carries the same one."""
    return Mail(
        to=message["to"],
        subject=message["subject"],
        text=message["text"],
        html=message.get("html"),
        headers=message.get("headers") or {},
        message_id=f"<{mail_id}@{parse_address(sender).domain}>",
    )


async def _wait_for_limits(services: Services, settings: OutboundSettings, domain: str) -> int:
    """0 if the mail may go now (and counts it), else the seconds to wait."""
    limits: list[tuple[Limit, str]] = []
    if settings.rate_global:
        limits.append((Limit("mail:global", settings.rate_global, 60), "all"))
    if settings.rate_per_domain:
        limits.append((Limit("mail:domain", settings.rate_per_domain, 60), domain.lower()))
    try:
        # Look first, count after: a refused hit must not use up room that a later mail could have.
        for limit, key in limits:
            await services.limiter.check(limit, key)
        for limit, key in limits:
            await services.limiter.hit(limit, key)
    except TooManyRequests as exc:
        return int(exc.extra.get("retry_after", 1))
    return 0


def _is_hard_bounce(code: int | None) -> bool:
    return code is not None and 500 <= code <= 599 and not 530 <= code <= 539


async def send_queued_mail(services: Services, job: Job) -> None:
    """The ``outbound.send`` job: send one queued mail (see the module docstring for what happens when)."""
    try:
        mail_id = uuid.UUID(job.payload["mail_id"])
    except (KeyError, ValueError, TypeError):
        raise PermanentJobError("payload has no mail_id") from None
    pool = services.pool
    row = await queries.get_queued_mail(pool, mail_id)
    if row is None:
        return  # sent (or given up) by an earlier attempt
    if row["suppressed"]:
        await queries.update_mail_finished(pool, mail_id, "suppressed", None)
        return
    settings = services.config.section(OutboundSettings)
    wait = await _wait_for_limits(services, settings, row["recipient_domain"])
    if wait:
        # A new job, so that waiting costs no attempt; this one ends done.
        await enqueue(
            pool,
            SEND_KIND,
            {"mail_id": str(mail_id)},
            run_at=services.clock.now() + timedelta(seconds=wait),
            max_attempts=MAX_ATTEMPTS,
        )
        return
    mail = _mail_from_row(orjson.loads(row["message"]), mail_id, services.config.mail_from)
    try:
        await services.mailer.send(mail)
    except ValueError as exc:
        await queries.update_mail_finished(pool, mail_id, "failed", f"malformed: {exc}")
        raise PermanentJobError(f"malformed mail: {exc}") from None
    except MailError as exc:
        if _is_hard_bounce(exc.code):
            await suppress_after_bounce(pool, row["recipient"], str(exc), stream=row["stream"])
            await queries.update_mail_finished(pool, mail_id, "failed", str(exc))
            raise PermanentJobError(f"refused for good ({exc.code})") from None
        if job.last_attempt:
            await queries.update_mail_finished(pool, mail_id, "failed", str(exc))
        else:
            await queries.update_mail_attempt(pool, mail_id, str(exc))
        raise
    await queries.update_mail_finished(pool, mail_id, "sent", None)


async def suppress_after_bounce(
    conn: asyncpg.Connection | asyncpg.Pool, email: str, diagnostic: str, *, stream: str | None = None
) -> bool:
    details = {"diagnostic": diagnostic[:500], "source": "smtp"}
    if stream is not None:
        details["stream"] = stream
    added = await queries.upsert_suppression(conn, email, "HardBounce", orjson.dumps(details).decode())
    if added:
        log.info("address suppressed after a hard bounce", extra={"to_domain": email.rpartition("@")[2]})
    return added


async def sweep_mails(services: Services) -> int:
    """Delete mails finished more than 30 days ago (their keys may then be used again)."""
    deleted = 0
    while True:
        count = await queries.delete_finished_mails(services.pool, KEEP_FINISHED.total_seconds(), 5000)
        deleted += count
        if count < 5000:
            return deleted
