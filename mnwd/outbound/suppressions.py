"""Addresses nothing mails (``email_suppressions``, compared case-insensitively): hard bounces, complaints and
manual entries. `enqueue_mail` queues nothing for them, and the worker drops a queued mail whose address was
suppressed meanwhile.

Interface::

    await suppress(pool, email, reason="Manual", details={...}) -> bool      # False: already suppressed
    await unsuppress(pool, email) -> bool                                     # False: was not
    await list_suppressions(pool, limit) -> list[Suppression]
    await apply_events(pool, events, source="webhook") -> EventCounts         # hard bounces, complaints
    await read_bounce_inbox(services) -> EventCounts                          # the MNWD_MAIL_BOUNCE_INBOX files

Races handled: two daemons reading the bounce inbox each claim a file by renaming it into ``processed/``
first; only one rename succeeds, so a report is applied once. Suppressing an address twice at once keeps one
row (the unique index on ``lower(email)``), with the first reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from mnwd.mail import parse_address
from mnwd.outbound import queries
from mnwd.outbound.bounces import BounceEvent, parse_report
from mnwd.outbound.settings import OutboundSettings
from mnwd.services import Services

__all__ = [
    "REASONS",
    "EventCounts",
    "Suppression",
    "apply_events",
    "list_suppressions",
    "read_bounce_inbox",
    "suppress",
    "unsuppress",
]

log = logging.getLogger(__name__)

REASONS = ("HardBounce", "SpamComplaint", "Manual")
MAX_INBOX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Suppression:
    email: str
    reason: str
    details: dict[str, Any]
    created_at: datetime


@dataclass
class EventCounts:
    suppressed: int = 0
    already: int = 0
    ignored: int = 0


def _bare(email: str) -> str:
    return parse_address(email.strip()).addr_spec


async def suppress(
    conn: asyncpg.Pool | asyncpg.Connection,
    email: str,
    *,
    reason: str = "Manual",
    details: dict[str, Any] | None = None,
) -> bool:
    """Suppress ``email`` (ValueError if it is not one address); False if it already was."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}")
    return await queries.upsert_suppression(conn, _bare(email), reason, orjson.dumps(details or {}).decode())


async def unsuppress(conn: asyncpg.Pool | asyncpg.Connection, email: str) -> bool:
    return await queries.delete_suppression(conn, email.strip())


async def list_suppressions(conn: asyncpg.Pool | asyncpg.Connection, limit: int = 1000) -> list[Suppression]:
    rows = await queries.list_suppressions(conn, limit)
    return [Suppression(r["email"], r["reason"], orjson.loads(r["details"]), r["created_at"]) for r in rows]


async def apply_events(
    conn: asyncpg.Pool | asyncpg.Connection, events: list[BounceEvent], *, source: str
) -> EventCounts:
    counts = EventCounts()
    for event in events:
        if event.kind == "soft_bounce":
            counts.ignored += 1
            continue
        reason = "HardBounce" if event.kind == "hard_bounce" else "SpamComplaint"
        details = {"source": source, "diagnostic": event.diagnostic}
        if await queries.upsert_suppression(conn, event.email, reason, orjson.dumps(details).decode()):
            counts.suppressed += 1
        else:
            counts.already += 1
    return counts


def _claim_inbox_files(inbox: Path) -> list[Path]:
    """Move each delivered file into ``processed/`` (the claim) and return the new paths."""
    processed = inbox / "processed"
    processed.mkdir(mode=0o700, exist_ok=True)
    claimed = []
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        target = processed / entry.name
        try:
            os.rename(entry, target)
        except FileNotFoundError:
            continue  # another daemon took it
        claimed.append(target)
    return claimed


async def read_bounce_inbox(services: Services) -> EventCounts:
    """Apply the reports delivered to ``MNWD_MAIL_BOUNCE_INBOX`` since the last run (nothing if unset)."""
    inbox = services.config.section(OutboundSettings).bounce_inbox
    total = EventCounts()
    if inbox is None or not inbox.is_dir():
        return total
    for path in await asyncio.to_thread(_claim_inbox_files, inbox):
        data = await asyncio.to_thread(_read_head, path)
        try:
            events = parse_report(data)
        except Exception:
            log.warning("unreadable message in the bounce inbox", extra={"file": path.name}, exc_info=True)
            continue
        counts = await apply_events(services.pool, events, source="dsn")
        total.suppressed += counts.suppressed
        total.already += counts.already
        total.ignored += counts.ignored
    if total.suppressed:
        log.info("addresses suppressed from the bounce inbox", extra={"count": total.suppressed})
    return total


def _read_head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(MAX_INBOX_FILE_BYTES)
