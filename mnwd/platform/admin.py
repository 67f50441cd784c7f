"""What the admin pages do: find users, suspend and unsuspend them, set their tier, largest-file override and
grandfathering; act on reports (through the store's API); platform stats. Every action that changes something
writes its `audit` row; user changes in the same transaction as the change.

- ``search_users(pool, query)``, ``get_user(pool, user_id)`` → `AdminUser` (`NotFound`).
- ``suspend(services, admin, user_id, reason)`` / ``unsuspend(...)``: `Conflict` when already so (of two
  admins racing, the first wins: the UPDATE checks the current state). An admin cannot suspend themselves.
- ``set_tier(services, admin, user_id, tier, override_mb, grandfathered_until)``.
- ``decide_report(services, admin, report_id, action, note)``: ``resolve`` / ``dismiss`` (the store's
  decision), ``unpublish`` (the target made private, then resolved) and ``suspend`` (the target's owner
  suspended, then resolved). The store's calls, the suspension and the audit row run in one transaction:
  all of them commit, or none.
- ``stats(pool, days)`` → totals and one value a day for the charts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from mnwd import store
from mnwd.accounts import Viewer
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.platform import audit, queries
from mnwd.services import Services
from mnwd.tiers import MB, TIERS

__all__ = [
    "REPORT_ACTIONS",
    "AdminUser",
    "decide_report",
    "get_user",
    "search_users",
    "set_tier",
    "stats",
    "suspend",
    "unsuspend",
]

MAX_REASON_CHARS = 1000
REPORT_ACTIONS = ("resolve", "dismiss", "unpublish", "suspend")


@dataclass(frozen=True)
class AdminUser:
    id: uuid.UUID
    username: str
    email: str
    display_name: str | None
    is_admin: bool
    can_create_projects: bool
    creator_tier: str | None
    effective_tier: str
    max_file_override_bytes: int | None
    grandfathered_until: datetime | None
    storage_used_bytes: int
    suspended_at: datetime | None
    suspension_reason: str | None
    created_at: datetime
    last_login_at: datetime | None


def _only_admins(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins may do this.")


async def search_users(pool: asyncpg.Pool, query: str, limit: int = 100) -> list[AdminUser]:
    return [AdminUser(**dict(r)) for r in await queries.search_users(pool, query.strip()[:100], limit)]


async def get_user(pool: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> AdminUser:
    row = await queries.get_user(pool, user_id)
    if row is None:
        raise NotFound("There is no such user.")
    return AdminUser(**dict(row))


def _check_suspension(admin: Viewer, user_id: uuid.UUID, reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS or "\x00" in reason:
        raise ValidationFailed(
            "The user was not suspended.",
            errors=[{"field": "reason", "message": f"Give a reason of 1 to {MAX_REASON_CHARS} characters."}],
        )
    if user_id == admin.user_id:
        raise Conflict("You cannot suspend yourself.")
    return reason


async def _suspend_in(tx: Tx, admin: Viewer, user_id: uuid.UUID, reason: str) -> None:
    await get_user(tx.conn, user_id)
    if not await queries.suspend_user(tx.conn, user_id, reason):
        raise Conflict("This user is suspended already.")
    await audit.record(tx.conn, admin.user_id, "user.suspend", "user", user_id, reason=reason)


async def suspend(services: Services, admin: Viewer, user_id: uuid.UUID, reason: str) -> None:
    _only_admins(admin)
    reason = _check_suspension(admin, user_id, reason)

    async def body(tx: Tx) -> None:
        await _suspend_in(tx, admin, user_id, reason)

    await run_tx(services.pool, "platform.admin.suspend", body, metrics=services.metrics)


async def unsuspend(services: Services, admin: Viewer, user_id: uuid.UUID) -> None:
    _only_admins(admin)

    async def body(tx: Tx) -> None:
        await get_user(tx.conn, user_id)
        if not await queries.unsuspend_user(tx.conn, user_id):
            raise Conflict("This user is not suspended.")
        await audit.record(tx.conn, admin.user_id, "user.unsuspend", "user", user_id)

    await run_tx(services.pool, "platform.admin.unsuspend", body, metrics=services.metrics)


def _parse_tier(
    tier: str, override_mb: str, grandfathered_until: str
) -> tuple[str | None, int | None, datetime | None]:
    errors = []
    if tier not in ("", *TIERS):
        errors.append({"field": "tier", "message": "Choose a tier."})
    override = None
    if override_mb.strip():
        text = override_mb.strip()
        if not text.isdigit() or not 1 <= int(text) <= 1024 * 1024:
            errors.append({"field": "override_mb", "message": "A largest file of 1 to 1048576 MB, or empty."})
        else:
            override = int(text) * MB
    until = None
    if grandfathered_until.strip():
        try:
            until = datetime.fromisoformat(grandfathered_until.strip())
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
        except ValueError:
            errors.append({"field": "grandfathered_until", "message": "A date like 2027-01-31, or empty."})
    if errors:
        raise ValidationFailed("The tier was not changed.", errors=errors)
    return tier or None, override, until


async def set_tier(
    services: Services, admin: Viewer, user_id: uuid.UUID, tier: str, override_mb: str, grandfathered_until: str
) -> None:
    _only_admins(admin)
    new_tier, override, until = _parse_tier(tier, override_mb, grandfathered_until)

    async def body(tx: Tx) -> None:
        before = await queries.set_tier(tx.conn, user_id, new_tier, override, until)
        if before is None:
            raise NotFound("There is no such user.")
        await audit.record(
            tx.conn,
            admin.user_id,
            "user.set_tier",
            "user",
            user_id,
            tier=new_tier,
            max_file_override_bytes=override,
            grandfathered_until=until.isoformat() if until else None,
            before={
                "tier": before["creator_tier"],
                "max_file_override_bytes": before["max_file_override_bytes"],
                "grandfathered_until": before["grandfathered_until"].isoformat()
                if before["grandfathered_until"]
                else None,
            },
        )

    await run_tx(services.pool, "platform.admin.set_tier", body, metrics=services.metrics)


async def decide_report(services: Services, admin: Viewer, report_id: uuid.UUID, action: str, note: str) -> None:
    _only_admins(admin)
    if action not in REPORT_ACTIONS:
        raise NotFound("There is no such action.")

    async def body(tx: Tx) -> None:
        report = await store.get_report(tx.conn, report_id)
        if report is None:
            raise NotFound("There is no such report.")
        details: dict[str, Any] = {"note": note.strip(), "reported": f"{report.target_type} {report.target_id}"}
        if action == "unpublish":
            await store.unpublish_reported(tx.conn, report_id)
        elif action == "suspend":
            owner = report.target_owner and await queries.get_user_id_by_username(tx.conn, report.target_owner)
            if not owner:
                raise NotFound("The reported thing has no owner left to suspend.")
            await _suspend_in(tx, admin, owner, _check_suspension(admin, owner, note.strip() or f"Report {report_id}"))
            details["user_id"] = str(owner)
        outcome = "dismissed" if action == "dismiss" else "resolved"
        if report.status == "open":
            # Of two admins racing, the second's UPDATE waits for the first's commit, finds the report decided
            # and raises Conflict: its unpublish or suspension rolls back with it.
            await store.decide_report(tx.conn, admin.user_id, admin.is_admin, report_id, outcome, note)
        elif action in ("resolve", "dismiss"):
            raise Conflict(f"This report was {report.status} already.")
        await audit.record(tx.conn, admin.user_id, f"report.{action}", "report", report_id, **details)

    await run_tx(services.pool, "platform.admin.report", body, metrics=services.metrics)


@dataclass(frozen=True)
class Stats:
    totals: dict[str, int]
    days: list[str]
    signups: list[int]
    sales_cents: list[int]
    sync_changes: list[int]


async def stats(pool: asyncpg.Pool, days: int = 30) -> Stats:
    totals = dict(await queries.get_totals(pool))
    daily = await queries.list_daily(pool, days)
    return Stats(
        totals={k: int(v) for k, v in totals.items()},
        days=[r["day"].isoformat() for r in daily],
        signups=[int(r["signups"]) for r in daily],
        sales_cents=[int(r["sales_cents"]) for r in daily],
        sync_changes=[int(r["sync_changes"]) for r in daily],
    )
