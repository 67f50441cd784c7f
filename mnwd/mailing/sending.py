"""The one place the mailing domain hands mail over for delivery.

``await queue_mail(conn, mail, key=..., headers=...)`` queues ``mail`` in the caller's transaction and returns
the queued mail's id, or ``None`` when ``key`` was used before or the address is suppressed. ``delivery_counts``
tells, for the ids it returned, how many were sent and how many failed for good.

Until the base's outbound queue (`mnwd.outbound.enqueue_mail`) is on this branch, a mail is a durable job of
this domain (``mailing.mail``) whose handler sends it through ``services.mailer``: the job exists if and only
if the caller commits, its idempotency key makes a second enqueue a no-op, and a daemon killed while a mail
is being handed to the SMTP server sends it again after the job's lease runs out (at most once more per
crash and per mail in flight).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import asyncpg

from mnwd.db import jobs
from mnwd.db.jobs import Job, PermanentJobError
from mnwd.mail import Mail
from mnwd.mailing import queries
from mnwd.services import Services

__all__ = ["MAIL_JOB", "delivery_counts", "queue_mail", "send_mail_job"]

MAIL_JOB = "mailing.mail"


async def queue_mail(
    conn: asyncpg.Connection,
    mail: Mail,
    *,
    key: str,
    stream: str = "broadcast",
    headers: Mapping[str, str] | None = None,
) -> uuid.UUID | None:
    if await queries.is_suppressed(conn, mail.to):
        return None
    payload = {
        "to": mail.to,
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "headers": {**mail.headers, **(headers or {})},
        "stream": stream,
    }
    return await jobs.enqueue(conn, MAIL_JOB, payload, key=key)


async def send_mail_job(services: Services, job: Job) -> None:
    payload = job.payload
    to = payload.get("to")
    if not isinstance(to, str):
        raise PermanentJobError("mail job without an address")
    if await queries.is_suppressed(services.pool, to):
        return
    await services.mailer.send(
        Mail(
            to=to,
            subject=str(payload.get("subject", "")),
            text=str(payload.get("text", "")),
            html=payload.get("html"),
            headers=dict(payload.get("headers") or {}),
        )
    )


async def delivery_counts(conn: asyncpg.Connection | asyncpg.Pool, mail_ids: list[uuid.UUID]) -> dict[str, int]:
    """``{"sent": n, "bounced": m}`` of these queued mails (bounced: given up on for good)."""
    states = await queries.count_job_states(conn, mail_ids)
    return {"sent": states.get("done", 0), "bounced": states.get("dead", 0)}
