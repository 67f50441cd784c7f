"""The admin audit log: every admin action is a row (who, what, on what, when), written in the transaction of
the action itself, so an action and its record commit together or not at all.

- ``record(conn, admin_id, action, target_type, target_id, **details)`` — inside the action's transaction.
- ``list_entries(pool, page)`` → `(entries, more)`, newest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mnwd.platform import queries

__all__ = ["PAGE_SIZE", "AuditEntry", "list_entries", "record"]

PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditEntry:
    id: uuid.UUID
    admin_username: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime


async def record(
    conn: asyncpg.Connection, admin_id: uuid.UUID, action: str, target_type: str, target_id: object, **details: Any
) -> None:
    await queries.insert_audit(conn, admin_id, action, target_type, str(target_id), details)


async def list_entries(pool: asyncpg.Pool, page: int) -> tuple[list[AuditEntry], bool]:
    rows = await queries.list_audit(pool, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    entries = [
        AuditEntry(
            r["id"],
            r["admin_username"],
            r["action"],
            r["target_type"],
            r["target_id"],
            dict(r["details"]),
            r["created_at"],
        )
        for r in rows[:PAGE_SIZE]
    ]
    return entries, len(rows) > PAGE_SIZE
