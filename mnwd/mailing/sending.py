"""The one place the mailing domain hands mail over for delivery: the base's outbound queue.

``await queue_mail(conn, mail, key=..., headers=...)`` queues ``mail`` in the caller's transaction through
`mnwd.outbound.enqueue_mail` and returns the queued mail's id, or ``None`` when ``key`` was used before or the
address is suppressed. ``delivery_counts`` tells, for the ids it returned, how many were sent and how many were
given up on (a permanent failure, or suppressed by the time the worker took them).

Delivery guarantees are the outbound queue's (docs/mail.md): a mail row exists exactly when the caller
commits, the key makes a second queueing a no-op, and a daemon killed while handing a mail to the SMTP server
may send that one mail again after restarting.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import asyncpg

from mnwd.mail import Mail
from mnwd.mailing import queries
from mnwd.outbound import enqueue_mail

__all__ = ["delivery_counts", "queue_mail"]


async def queue_mail(
    conn: asyncpg.Connection,
    mail: Mail,
    *,
    key: str,
    stream: str = "list",
    headers: Mapping[str, str] | None = None,
) -> uuid.UUID | None:
    return await enqueue_mail(conn, mail, stream=stream, key=key, headers=headers)


async def delivery_counts(conn: asyncpg.Connection | asyncpg.Pool, mail_ids: list[uuid.UUID]) -> dict[str, int]:
    """``{"sent": n, "bounced": m}`` of these queued mails (bounced: failed for good, or suppressed)."""
    states = await queries.count_mail_states(conn, mail_ids)
    return {"sent": states.get("sent", 0), "bounced": states.get("failed", 0) + states.get("suppressed", 0)}
