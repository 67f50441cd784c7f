"""Reports: anyone signed in reports an item, a project, a blog post or a collection (spam, harassment,
copyright...); admins work through the queue and resolve or dismiss each.

The interface:

- ``parse_target(target_type, target_id)`` → `Target`, or `NotFound` for another kind or a malformed id.
- ``get_target(pool, target, viewer_id)`` → its name and page, or `NotFound` when it does not exist or the
  reporter may not see it (nobody reports what they cannot see).
- ``file_report(pool, reporter_id, target, reason, details)`` → the report's id. One open report per reporter
  and target: a second while the first is open is `AlreadyReported` (409). The partial UNIQUE index
  ``reports_one_open_per_reporter_target`` decides it inside the INSERT, so two submissions racing make one.
- ``get_open_report(pool, reporter_id, target)`` — the reporter's open report of it, if any.
- ``list_queue(pool, status, page)`` → reports of a status (open: oldest first), ``count_by_status(pool)``.
- ``unpublish(pool, report_id)`` → the report, after its target was made private (items, projects, collections)
  or unpublished (blog posts); `NotFound` for an unknown report or a target that is gone. Admin pages only.
- ``unpublish``, ``decide`` and ``get_report`` take a pool or a connection: the platform's admin pages run them
  in the transaction that writes their audit row.
- ``decide(pool, admin, report_id, outcome, note)`` — ``resolved`` or ``dismissed``, with a note; only admins
  (`Forbidden`); a report decided already is `Conflict` (an UPDATE ... WHERE status = 'open' decides which
  of two admins racing wins).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.store.queries import reports as queries

__all__ = [
    "OUTCOMES",
    "REASONS",
    "STATUSES",
    "TARGET_LABELS",
    "TARGET_TYPES",
    "AlreadyReported",
    "Report",
    "Target",
    "count_by_status",
    "decide",
    "file_report",
    "get_open_report",
    "get_report",
    "get_target",
    "list_queue",
    "parse_target",
    "unpublish",
]

TARGET_TYPES = ("item", "project", "blog_post", "collection")
TARGET_LABELS = {"item": "item", "project": "project", "blog_post": "blog post", "collection": "collection"}
REASONS = {
    "spam": "Spam or misleading",
    "harassment": "Harassment or hate",
    "copyright": "Copyright infringement",
    "illegal": "Illegal content",
    "malware": "Malware or a harmful download",
    "other": "Something else",
}
STATUSES = ("open", "resolved", "dismissed")
OUTCOMES = ("resolved", "dismissed")
MAX_DETAILS_CHARS = 4000
MAX_NOTE_CHARS = 2000
PAGE_SIZE = 50
NO_SUCH_TARGET = "There is no such item, project, blog post or collection."


class AlreadyReported(Conflict):
    slug = "already-reported"


@dataclass(frozen=True)
class Target:
    type: str
    id: uuid.UUID


@dataclass(frozen=True)
class TargetInfo:
    type: str
    id: uuid.UUID
    name: str
    url: str

    @property
    def label(self) -> str:
        return TARGET_LABELS[self.type]


@dataclass(frozen=True)
class Report:
    id: uuid.UUID
    reporter: str | None
    target_type: str
    target_id: uuid.UUID
    target_name: str | None
    target_url: str | None
    target_owner: str | None
    reason: str
    details: str
    status: str
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Report:
        values = dict(row)
        values.pop("reporter_id")
        return cls(**values)

    @property
    def target_label(self) -> str:
        return TARGET_LABELS.get(self.target_type, self.target_type)

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


def parse_target(target_type: str, target_id: str) -> Target:
    if target_type not in TARGET_TYPES:
        raise NotFound(NO_SUCH_TARGET)
    try:
        return Target(target_type, uuid.UUID(target_id))
    except ValueError:
        raise NotFound(NO_SUCH_TARGET) from None


async def get_target(pool: asyncpg.Pool, target: Target, viewer_id: uuid.UUID) -> TargetInfo:
    row = await queries.get_visible_target(pool, target.type, target.id, viewer_id)
    if row is None:
        raise NotFound(NO_SUCH_TARGET)
    return TargetInfo(target.type, target.id, row["name"], row["url"])


async def get_open_report(pool: asyncpg.Pool, reporter_id: uuid.UUID, target: Target) -> Report | None:
    row = await queries.get_open_report(pool, reporter_id, target.type, target.id)
    return None if row is None else Report.from_row(row)


async def file_report(
    pool: asyncpg.Pool, reporter_id: uuid.UUID, target: Target, reason: str, details: str
) -> uuid.UUID:
    await get_target(pool, target, reporter_id)
    details = details.strip()
    errors = []
    if reason not in REASONS:
        errors.append({"field": "reason", "message": "Choose a reason."})
    if len(details) > MAX_DETAILS_CHARS or "\x00" in details:
        errors.append({"field": "details", "message": f"Say it in at most {MAX_DETAILS_CHARS} characters."})
    if errors:
        raise ValidationFailed("The report was not sent.", errors=errors)
    created = await queries.insert_report(pool, reporter_id, target.type, target.id, reason, details)
    if created is None:
        raise AlreadyReported("You reported this already; an admin will look at your report.")
    return created


async def list_queue(pool: asyncpg.Pool, status: str, page: int) -> tuple[list[Report], bool]:
    if status not in STATUSES:
        status = "open"
    rows = await queries.list_reports(pool, status, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return [Report.from_row(r) for r in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE


async def count_by_status(pool: asyncpg.Pool) -> dict[str, int]:
    counts = await queries.count_reports(pool)
    return {status: counts.get(status, 0) for status in STATUSES}


async def decide(
    pool: asyncpg.Pool | asyncpg.Connection,
    admin_id: uuid.UUID,
    is_admin: bool,
    report_id: uuid.UUID,
    outcome: str,
    note: str,
) -> Report:
    if not is_admin:
        raise Forbidden("Only admins handle reports.")
    if outcome not in OUTCOMES:
        raise NotFound("There is no such decision.")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS or "\x00" in note:
        raise ValidationFailed(
            "The report was not closed.",
            errors=[{"field": "note", "message": f"A note is at most {MAX_NOTE_CHARS} characters."}],
        )
    if not await queries.decide_report(pool, report_id, admin_id, outcome, note or None):
        current = await queries.get_report(pool, report_id)
        if current is None:
            raise NotFound("There is no such report.")
        raise Conflict(f"This report was {current['status']} already.")
    decided = await queries.get_report(pool, report_id)
    assert decided is not None
    return Report.from_row(decided)


async def unpublish(pool: asyncpg.Pool | asyncpg.Connection, report_id: uuid.UUID) -> Report:
    row = await queries.get_report(pool, report_id)
    if row is None:
        raise NotFound("There is no such report.")
    if not await queries.unpublish_target(pool, row["target_type"], row["target_id"]):
        raise NotFound(f"The reported {TARGET_LABELS.get(row['target_type'], 'thing')} is gone.")
    return Report.from_row(row)


async def get_report(pool: asyncpg.Pool | asyncpg.Connection, report_id: uuid.UUID) -> Report | None:
    row = await queries.get_report(pool, report_id)
    return None if row is None else Report.from_row(row)
