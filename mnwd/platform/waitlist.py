"""The creator waitlist and its waves: people ask to become creators; admins let them in a wave at a time.

- ``ask_to_create(pool, viewer, pitch, portfolio_url)`` — puts a signed-in non-creator on the list (once: a
  second request keeps the first, the UNIQUE user_id decides two racing).
- ``entry_for(pool, user_id)`` — their place on the list, or None.
- ``list_entries(pool, status)``, ``list_waves(pool)``, ``counts(pool)``.
- ``open_wave(services, admin, count, picked, name)`` → `(wave_number, invited)`: one transaction makes the
  next wave, moves up to ``count`` pending people into it (the oldest, or the ``picked`` ids), makes each a
  creator, writes the audit row and enqueues one ``platform.wave_invitation`` job a person, keyed by the
  waitlist row, so a person is mailed once however often the job or the wave is retried. Two admins opening
  waves at once take disjoint people (``FOR UPDATE SKIP LOCKED``).
- ``send_invitation(services, job)`` — the job: mails the invitation (idempotent: nothing for a row gone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from mnwd.accounts import Viewer
from mnwd.db.jobs import Job, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.mail import Mail
from mnwd.platform import audit, queries
from mnwd.services import Services

__all__ = [
    "INVITATION_JOB",
    "MAX_WAVE",
    "WaitlistEntry",
    "ask_to_create",
    "counts",
    "entry_for",
    "list_entries",
    "list_waves",
    "open_wave",
    "send_invitation",
]

INVITATION_JOB = "platform.wave_invitation"
MAX_WAVE = 1000
MAX_PITCH_CHARS = 2000
STATUSES = ("pending", "invited", "accepted", "declined")


@dataclass(frozen=True)
class WaitlistEntry:
    id: uuid.UUID
    status: str
    pitch: str
    portfolio_url: str | None
    invited_at: datetime | None
    created_at: datetime
    wave_number: int | None
    username: str = ""
    email: str = ""


async def entry_for(pool: asyncpg.Pool, user_id: uuid.UUID) -> WaitlistEntry | None:
    row = await queries.get_waitlist_entry(pool, user_id)
    return None if row is None else WaitlistEntry(**dict(row))


async def ask_to_create(pool: asyncpg.Pool, viewer: Viewer, pitch: str, portfolio_url: str) -> None:
    if viewer.can_create_projects:
        raise Conflict("You are a creator already.")
    pitch, portfolio_url = pitch.strip(), portfolio_url.strip()
    errors = []
    if not pitch or len(pitch) > MAX_PITCH_CHARS or "\x00" in pitch:
        errors.append({"field": "pitch", "message": f"Say what you would make, in 1 to {MAX_PITCH_CHARS} characters."})
    if portfolio_url:
        parts = urlsplit(portfolio_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(portfolio_url) > 500:
            errors.append({"field": "portfolio_url", "message": "A link starts with https:// (or http://)."})
    if errors:
        raise ValidationFailed("Your request was not sent.", errors=errors)
    if not await queries.insert_waitlist_entry(pool, viewer.user_id, pitch, portfolio_url or None):
        raise Conflict("You are on the waitlist already.")


async def list_entries(pool: asyncpg.Pool, status: str) -> list[WaitlistEntry]:
    return [WaitlistEntry(**dict(r)) for r in await queries.list_waitlist(pool, status)]


async def list_waves(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await queries.list_waves(pool)


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    found = await queries.count_waitlist(pool)
    return {status: found.get(status, 0) for status in STATUSES}


async def open_wave(
    services: Services, admin: Viewer, count: int, picked: list[uuid.UUID] | None, name: str = ""
) -> tuple[int, int]:
    if not admin.is_admin:
        raise Forbidden("Only admins open waves.")
    if picked is not None:
        count = len(picked)
    if not 1 <= count <= MAX_WAVE:
        raise ValidationFailed(
            "The wave was not opened.",
            errors=[{"field": "count", "message": f"A wave lets in 1 to {MAX_WAVE} people."}],
        )
    name = name.strip()[:100]

    async def body(tx: Tx) -> tuple[int, int]:
        wave = await queries.insert_wave(tx.conn, count, name)
        invited = await queries.invite_waitlisted(tx.conn, wave["id"], count, picked)
        if not invited:
            raise Conflict("Nobody is waiting: no wave was opened.")
        for row in invited:
            await queries.make_creator(tx.conn, row["user_id"])
            await enqueue(tx.conn, INVITATION_JOB, {"waitlist_id": str(row["id"])}, key=f"{INVITATION_JOB}:{row['id']}")
        await audit.record(
            tx.conn,
            admin.user_id,
            "wave.open",
            "creator_wave",
            wave["id"],
            number=wave["wave_number"],
            invited=len(invited),
        )
        tx.after_commit(services.jobs.wake)
        return wave["wave_number"], len(invited)

    return await run_tx(services.pool, "platform.waves.open", body, metrics=services.metrics)


async def send_invitation(services: Services, job: Job) -> None:
    row = await queries.get_invitation(services.pool, uuid.UUID(job.payload["waitlist_id"]))
    if row is None or row["status"] != "invited":
        return
    base = services.config.base_url.rstrip("/")
    await services.mailer.send(
        Mail(
            to=row["email"],
            subject="You're in: you can publish on mnwd now",
            text=(
                f"Hello {row['username']},\n\nYou asked to become a creator, and wave {row['wave_number']} "
                f"has let you in. Your account can make projects now:\n\n{base}/dashboard/store\n\n"
                "Welcome aboard.\n"
            ),
        )
    )
