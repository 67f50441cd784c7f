"""Broadcasts: a creator's markdown mail to one of their lists, written, previewed, tested, then sent or scheduled.

Interface::

    broadcast_id = await create_broadcast(services, user_id, list_id, subject, body_markdown)
    await edit_broadcast(services, user_id, broadcast_id, subject, body_markdown)   # drafts only
    await send_test(services, user_id, broadcast_id)          # to the creator's own address, each press once
    await send_broadcast(services, user_id, broadcast_id, at=None)   # now, or scheduled at ``at``
    await unschedule_broadcast(services, user_id, broadcast_id)      # back to draft before it starts
    stats = await broadcast_stats(services, broadcast_id)     # queued, sent, bounced, unsubscribed, remaining

**Fan-out** (`run_broadcast_job`, job ``mailing.broadcast``, at least once): batches of `BATCH` subscribers in
id order after the broadcast's ``cursor_subscriber``, each batch one transaction that locks the broadcast row,
claims each recipient in ``mailing_broadcast_recipients`` (primary key ``(broadcast, subscriber)``), queues
its mail (`mnwd.mailing.sending.queue_mail`, idempotency key ``broadcast:<broadcast>:<subscriber>``) and moves
the cursor. A daemon killed mid-batch rolls the batch back whole; a job re-run (or a second daemon running the
same job) goes on from the committed cursor, and the recipient row and the key make a second queueing of the
same person impossible in any case. Recipients are the list's confirmed, not unsubscribed, not suppressed
subscribers at the moment their batch runs: who unsubscribes before their batch gets nothing.

Every mail carries the RFC 8058 headers (`mnwd.mailing.links.list_headers`) and the same unsubscribe link
in its text and HTML footers; that link is signed with the broadcast's id, so unsubscribes are counted per
broadcast.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from markupsafe import Markup, escape

from mnwd.db import jobs
from mnwd.db.jobs import Job, PermanentJobError
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.mail import Mail
from mnwd.mailing import lists, queries, sending
from mnwd.services import Services
from mnwd.web.markdown import render_markdown

__all__ = [
    "BROADCAST_JOB",
    "NO_SUCH_BROADCAST",
    "broadcast_stats",
    "broadcasts_of_list",
    "create_broadcast",
    "edit_broadcast",
    "require_owned_broadcast",
    "run_broadcast_job",
    "send_broadcast",
    "send_test",
    "unschedule_broadcast",
]

BROADCAST_JOB = "mailing.broadcast"
NO_SUCH_BROADCAST = "There is no such broadcast."
BATCH = 500
MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 100_000


def _check(subject: str, body: str) -> tuple[str, str]:
    subject = subject.strip()
    errors = []
    if not subject:
        errors.append({"field": "subject", "message": "Give the mail a subject."})
    elif len(subject) > MAX_SUBJECT_CHARS or any(c < " " or c == "\x7f" for c in subject):
        errors.append({"field": "subject", "message": f"At most {MAX_SUBJECT_CHARS} characters, on one line."})
    if len(body) > MAX_BODY_CHARS:
        errors.append({"field": "body", "message": f"At most {MAX_BODY_CHARS} characters."})
    if "\x00" in body:
        errors.append({"field": "body", "message": "The text holds a NUL character."})
    if errors:
        raise ValidationFailed("The mail cannot be saved as it is.", errors=errors)
    return subject, body


async def require_owned_broadcast(services: Services, user_id: uuid.UUID, broadcast_id: uuid.UUID) -> asyncpg.Record:
    found = await queries.get_broadcast(services.pool, broadcast_id)
    if found is None or found["owner_id"] != user_id:
        raise NotFound(NO_SUCH_BROADCAST)
    return found


async def broadcasts_of_list(services: Services, user_id: uuid.UUID, list_id: uuid.UUID) -> list[asyncpg.Record]:
    await lists.require_owned_list(services.pool, user_id, list_id)
    return await queries.list_broadcasts(services.pool, list_id)


async def create_broadcast(
    services: Services, user_id: uuid.UUID, list_id: uuid.UUID, subject: str, body: str
) -> uuid.UUID:
    subject, body = _check(subject, body)
    await lists.require_owned_list(services.pool, user_id, list_id)
    return await queries.insert_broadcast(services.pool, list_id, user_id, subject, body)


async def edit_broadcast(
    services: Services, user_id: uuid.UUID, broadcast_id: uuid.UUID, subject: str, body: str
) -> None:
    subject, body = _check(subject, body)
    await require_owned_broadcast(services, user_id, broadcast_id)
    if not await queries.update_broadcast(services.pool, broadcast_id, subject, body):
        raise Conflict("Only a draft can be changed; unschedule it first.")


def render_body(broadcast: Any) -> Markup:
    return render_markdown(broadcast["body_markdown"])


def _mail(broadcast: Any, html_body: Markup, to: str, unsubscribe: str | None, *, test: bool = False) -> Mail:
    why = f"You receive this because you subscribed to {broadcast['list_name']} of {broadcast['project_title']}."
    text = broadcast["body_markdown"].rstrip() + "\n\n-- \n" + why + "\n"
    html = f"{html_body}\n<hr>\n<p><small>{escape(why)}"
    if unsubscribe is not None:
        text += f"Unsubscribe: {unsubscribe}\n"
        html += f' <a href="{escape(unsubscribe)}">Unsubscribe</a>'
    html += "</small></p>\n"
    subject = f"[Test] {broadcast['subject']}"[:MAX_SUBJECT_CHARS] if test else broadcast["subject"]
    return Mail(to=to, subject=subject, text=text, html=html)


async def send_test(services: Services, user_id: uuid.UUID, broadcast_id: uuid.UUID) -> str:
    """Queue the mail to the creator's own address (returned); no list headers, nobody else."""
    broadcast = await require_owned_broadcast(services, user_id, broadcast_id)
    owner = await queries.get_list(services.pool, broadcast["list_id"])
    assert owner is not None
    address: str = owner["owner_email"]
    mail = _mail(broadcast, render_body(broadcast), address, None, test=True)

    async def body(tx: Tx) -> None:
        await sending.queue_mail(
            tx.conn, mail, key=f"broadcast-test:{broadcast_id}:{uuid.uuid4()}", stream="transactional"
        )

    await run_tx(services.pool, "mailing.broadcast_test", body)
    return address


async def send_broadcast(
    services: Services, user_id: uuid.UUID, broadcast_id: uuid.UUID, *, at: datetime | None = None
) -> None:
    """Send now (``at`` None or past) or at ``at``: a draft becomes ``sending`` or ``scheduled`` and its job is
    queued in the same transaction."""
    await require_owned_broadcast(services, user_id, broadcast_id)
    now = services.clock.now()
    later = at is not None and at > now
    status = "scheduled" if later else "sending"

    async def body(tx: Tx) -> None:
        if not await queries.update_broadcast_state(
            tx.conn, broadcast_id, status=status, expect=("draft",), scheduled_at=at if later else None
        ):
            raise Conflict("This broadcast is scheduled or sent already.")
        when = at.astimezone(UTC).isoformat() if later and at is not None else "now"
        await jobs.enqueue(
            tx.conn,
            BROADCAST_JOB,
            {"broadcast_id": str(broadcast_id)},
            key=f"{broadcast_id}:{when}",
            run_at=at if later else None,
            max_attempts=50,
        )
        tx.after_commit(services.jobs.wake)

    await run_tx(services.pool, "mailing.send_broadcast", body)


async def unschedule_broadcast(services: Services, user_id: uuid.UUID, broadcast_id: uuid.UUID) -> None:
    await require_owned_broadcast(services, user_id, broadcast_id)
    if not await queries.update_broadcast_state(services.pool, broadcast_id, status="draft", expect=("scheduled",)):
        raise Conflict("Only a scheduled broadcast that has not started can go back to draft.")


async def _fan_out_batch(services: Services, broadcast_id: uuid.UUID, scheduled_at: str | None) -> bool:
    """Queue one batch; ``True`` while there may be more."""

    async def body(tx: Tx) -> bool:
        broadcast = await queries.get_broadcast(tx.conn, broadcast_id, for_update=True)
        if broadcast is None:
            return False
        if broadcast["status"] == "scheduled":
            # A job of an earlier schedule (unscheduled, then scheduled again) leaves the later one alone.
            planned = broadcast["scheduled_at"]
            if planned is None or planned.astimezone(UTC).isoformat() != scheduled_at or planned > services.clock.now():
                return False
            await queries.update_broadcast_state(tx.conn, broadcast_id, status="sending", expect=("scheduled",))
        elif broadcast["status"] != "sending":
            return False
        recipients = await queries.list_next_recipients(
            tx.conn, broadcast["list_id"], broadcast["cursor_subscriber"], BATCH
        )
        if not recipients:
            await queries.update_broadcast_state(tx.conn, broadcast_id, status="sent", expect=("sending",))
            return False
        html_body = render_body(broadcast)
        for recipient in recipients:
            if not await queries.insert_recipient(tx.conn, broadcast_id, recipient["id"]):
                continue
            headers = lists.list_mail_headers(services, recipient["id"], broadcast_id)
            link = lists.unsubscribe_link(services, recipient["id"], broadcast_id)
            mail_id = await sending.queue_mail(
                tx.conn,
                _mail(broadcast, html_body, recipient["email"], link),
                key=f"broadcast:{broadcast_id}:{recipient['id']}",
                headers=headers,
            )
            if mail_id is not None:
                await queries.update_recipient_mail(tx.conn, broadcast_id, recipient["id"], mail_id)
        await queries.update_broadcast_state(
            tx.conn, broadcast_id, status="sending", expect=("sending",), cursor=recipients[-1]["id"]
        )
        tx.after_commit(services.jobs.wake)
        return True

    return await run_tx(services.pool, "mailing.broadcast_batch", body)


async def run_broadcast_job(services: Services, job: Job) -> None:
    try:
        broadcast_id = uuid.UUID(str(job.payload.get("broadcast_id")))
    except ValueError:
        raise PermanentJobError("broadcast job without a broadcast id") from None
    key = job.key or ""
    scheduled_at = key.partition(":")[2] or None
    more = True
    while more:
        more = await _fan_out_batch(services, broadcast_id, scheduled_at)


async def broadcast_stats(services: Services, broadcast: Any) -> dict[str, int]:
    counts = await queries.get_broadcast_counts(services.pool, broadcast["id"])
    delivered = await sending.delivery_counts(
        services.pool, await queries.list_recipient_mail_ids(services.pool, broadcast["id"])
    )
    remaining = 0
    if broadcast["status"] != "sent":
        remaining = await queries.count_recipients_after(
            services.pool, broadcast["list_id"], broadcast["cursor_subscriber"]
        )
    return {
        "queued": int(counts["queued"]),
        "sent": delivered["sent"],
        "bounced": delivered["bounced"],
        "unsubscribed": int(counts["unsubscribed"]),
        "remaining": remaining,
    }
