"""Invite codes: creators and admins issue codes, single- or multi-use, that expire; a code given at sign-up
makes the new account a creator.

- ``issue_code(services, issuer, max_uses, expires_days, note)`` → `Invite`. Creators may give up to
  ``CREATOR_MAX_USES`` uses a code, admins up to ``ADMIN_MAX_USES``; anyone else is `Forbidden`. A creator
  issues at most ``MNWD_PLATFORM_CREATOR_INVITE_CODES`` codes in all (`InviteCodeLimit`, 403); their user row
  is locked while counting, so two requests racing for the last one make one code.
- ``list_codes(pool, issuer)`` — the issuer's codes (an admin sees every code).
- ``redeem_at_sign_up(tx, user_id, extras)`` — the accounts `SIGNUP_HOOKS` hook: with a non-blank
  ``extras["invite"]`` it takes one use of the code in the sign-up transaction, or raises `ValidationFailed`
  (field ``invite``) so that no account is made. The race: concurrent sign-ups on one code each run
  ``UPDATE ... SET uses = uses + 1 WHERE uses < max_uses``; the row lock orders them and each re-checks the
  count after the previous commits, so a 10-use code makes exactly 10 creators however many try at once.
  A sign-up that fails later in its transaction gives its use back (the UPDATE rolls back with it).
- ``redeem_for_user(services, viewer, code)`` — the same for an account made without a code (the settings
  page ``/settings/invite``): one use taken, the redemption row, creator access, a pending waitlist place
  ``accepted``, in one transaction. A creator already is `Conflict`; so is an account that redeemed a code
  before (``invite_redemptions`` is unique per user: the use taken is rolled back with the transaction).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from mnwd.accounts import Viewer
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, ValidationFailed
from mnwd.platform import audit, queries
from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services

__all__ = [
    "ADMIN_MAX_USES",
    "CREATOR_MAX_USES",
    "Invite",
    "InviteCodeLimit",
    "issue_code",
    "list_codes",
    "redeem_at_sign_up",
    "redeem_for_user",
]

CREATOR_MAX_USES = 25
ADMIN_MAX_USES = 10_000
MAX_EXPIRY_DAYS = 365
MAX_NOTE_CHARS = 200
BAD_CODE = "This invite code is unknown, expired or used up. Leave it empty to sign up without it."
BAD_CODE_LATER = "This invite code is unknown, expired or used up."


class InviteCodeLimit(Forbidden):
    slug = "invite-code-limit"


@dataclass(frozen=True)
class Invite:
    id: uuid.UUID
    code: str
    max_uses: int
    uses: int
    expires_at: datetime | None
    note: str
    created_at: datetime
    creator: str = ""

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Invite:
        return cls(**dict(row))


def _check(issuer: Viewer, max_uses: int, expires_days: int, note: str) -> None:
    if not (issuer.can_create_projects or issuer.is_admin):
        raise Forbidden("Only creators and admins issue invite codes.")
    most = ADMIN_MAX_USES if issuer.is_admin else CREATOR_MAX_USES
    errors = []
    if not 1 <= max_uses <= most:
        errors.append({"field": "max_uses", "message": f"A code is used 1 to {most} times."})
    if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        errors.append({"field": "expires_days", "message": f"A code expires in 1 to {MAX_EXPIRY_DAYS} days."})
    if len(note) > MAX_NOTE_CHARS or "\x00" in note:
        errors.append({"field": "note", "message": f"A note is at most {MAX_NOTE_CHARS} characters."})
    if errors:
        raise ValidationFailed("The code was not made.", errors=errors)


async def issue_code(services: Services, issuer: Viewer, max_uses: int, expires_days: int, note: str) -> Invite:
    note = note.strip()
    _check(issuer, max_uses, expires_days, note)
    expires_at = services.clock.now() + timedelta(days=expires_days)

    cap = services.config.section(PlatformSettings).creator_invite_codes

    async def issue(tx: Tx) -> Invite:
        if not issuer.is_admin and await queries.lock_user_and_count_invites(tx.conn, issuer.user_id) >= cap:
            raise InviteCodeLimit(
                f"You have issued {cap} invite codes, as many as a creator may. An admin can issue more.", limit=cap
            )
        row = await queries.insert_invite(
            tx.conn, issuer.user_id, secrets.token_urlsafe(12), max_uses, expires_at, note
        )
        if issuer.is_admin:
            await audit.record(tx.conn, issuer.user_id, "invite.issue", "invite_code", row["id"], max_uses=max_uses)
        return Invite.from_row(row)

    return await run_tx(services.pool, "platform.invites.issue", issue, metrics=services.metrics)


async def list_codes(pool: asyncpg.Pool, issuer: Viewer) -> list[Invite]:
    return [Invite.from_row(r) for r in await queries.list_invites(pool, None if issuer.is_admin else issuer.user_id)]


async def redeem_at_sign_up(tx: Tx, user_id: uuid.UUID, extras: Mapping[str, str]) -> None:
    code = (extras.get("invite") or "").strip()
    if not code:
        return
    code_id = await queries.take_invite_use(tx.conn, code) if len(code) <= 64 else None
    if code_id is None:
        raise ValidationFailed("The account could not be created.", errors=[{"field": "invite", "message": BAD_CODE}])
    await queries.insert_redemption(tx.conn, code_id, user_id)
    await queries.make_creator(tx.conn, user_id)


async def redeem_for_user(services: Services, viewer: Viewer, code: str) -> None:
    if viewer.can_create_projects:
        raise Conflict("You are a creator already.")
    code = code.strip()
    if not code:
        raise ValidationFailed(
            "Give the invite code.", errors=[{"field": "invite", "message": "Give the invite code."}]
        )

    async def redeem(tx: Tx) -> None:
        code_id = await queries.take_invite_use(tx.conn, code) if len(code) <= 64 else None
        if code_id is None:
            raise ValidationFailed(
                "The code was not redeemed.", errors=[{"field": "invite", "message": BAD_CODE_LATER}]
            )
        try:
            async with tx.conn.transaction():
                await queries.insert_redemption(tx.conn, code_id, viewer.user_id)
        except asyncpg.UniqueViolationError:
            raise Conflict("You have redeemed an invite code before.") from None
        await queries.make_creator(tx.conn, viewer.user_id)
        await queries.accept_waitlist_place(tx.conn, viewer.user_id)

    await run_tx(services.pool, "platform.invites.redeem", redeem, metrics=services.metrics)
