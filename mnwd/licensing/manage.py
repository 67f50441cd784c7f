"""The creator's side: an item's policy from a form, its keys listed and searched, and what a creator does to
one key (suspend, reinstate, revoke, reset its activations, extend it).

Interface::

    check_policy(form) -> (enabled, Policy)          # ValidationFailed with the fields' errors
    parse_address_list(text) -> [(line, email)]      # a pasted CSV (an "email" column, else the first) or lines
    await list_item_keys(services, creator_id, item_id, search) -> (item, [License])
    await change_key(services, creator_id, key_id, action)   # suspend / reinstate / revoke / reset
    await extend_key(services, creator_id, key_id, expires_at, max_activations)

Every key is checked to be of one of the creator's items under its row lock; another creator's key is "not
found". ``max_activations`` may not go below the seats in use (the buyer frees some first, or the creator
resets them).
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.licensing import issuance, queries
from mnwd.licensing.model import EXPIRY_KINDS, License, Policy
from mnwd.licensing.validations import forget_on_commit
from mnwd.services import Services

__all__ = [
    "ACTIONS",
    "MAX_LISTED",
    "change_key",
    "check_policy",
    "extend_key",
    "list_item_keys",
    "parse_address_list",
    "parse_date",
]

NO_SUCH_KEY = "You have no such license key."
ENTITLEMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ACTIONS = ("suspend", "reinstate", "revoke", "reset")
MAX_LISTED = 200


EMAIL_HEADERS = ("email", "e-mail", "email address", "e-mail address", "mail")
MAX_LIST_CHARS = 256 * 1024


def parse_address_list(text: str) -> list[tuple[int, str]]:
    """The addresses of a pasted CSV with their line numbers: the column headed ``email`` (or ``e-mail``...) if
    the first row is such a header, else the first column; blank rows skipped. Too long: `ValidationFailed`."""
    if len(text) > MAX_LIST_CHARS:
        raise ValidationFailed(
            "The licenses cannot be issued like this.",
            [{"field": "emails", "message": f"At most {MAX_LIST_CHARS // 1024} KiB of addresses at once."}],
        )
    rows = list(csv.reader(text.replace("\x00", "").splitlines()))
    column = 0
    start = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        named = [i for i, cell in enumerate(header) if cell in EMAIL_HEADERS]
        if named:
            column, start = named[0], 1
    addresses = []
    for number, row in enumerate(rows[start:], start=start + 1):
        cell = row[column].strip() if len(row) > column else ""
        if cell:
            addresses.append((number, cell))
    return addresses


def _int(form: Mapping[str, str], name: str, low: int, high: int, errors: list[dict[str, str]]) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors.append({"field": name, "message": f"A whole number from {low} to {high}."})
        return None
    return int(raw)


def parse_date(raw: str) -> datetime | None:
    """A form's ``YYYY-MM-DD`` as the end of that day, UTC; None if it is not one."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59, 59), UTC)


def check_policy(form: Mapping[str, str], now: datetime) -> tuple[bool, Policy]:
    errors: list[dict[str, str]] = []
    max_activations = _int(form, "max_activations", 1, 10000, errors)
    expiry = form.get("expiry", "none")
    expires_at = None
    duration_days = None
    if expiry not in EXPIRY_KINDS:
        errors.append({"field": "expiry", "message": "Choose none, a fixed date or a duration."})
    elif expiry == "fixed":
        expires_at = parse_date(form.get("expires_at", ""))
        if expires_at is None or expires_at <= now:
            errors.append({"field": "expires_at", "message": "A date in the future, as YYYY-MM-DD."})
    elif expiry == "duration":
        duration_days = _int(form, "duration_days", 1, 36500, errors)
        if duration_days is None and not any(e["field"] == "duration_days" for e in errors):
            errors.append({"field": "duration_days", "message": "How many days a key lasts from the purchase."})
    heartbeat_minutes = _int(form, "heartbeat_minutes", 1, 1440, errors) or 10
    updates_days = _int(form, "updates_days", 1, 36500, errors)
    names = [n for n in re.split(r"[\s,]+", form.get("entitlements", "").strip().lower()) if n]
    bad = [n for n in names if not ENTITLEMENT.match(n)]
    if bad or len(names) > 20:
        errors.append(
            {"field": "entitlements", "message": "Up to 20 names of a-z, 0-9, '.', '_' and '-' (such as pro)."}
        )
    if errors:
        raise ValidationFailed("The license policy has mistakes.", errors)
    policy = Policy(
        max_activations=max_activations,
        expiry=expiry,
        expires_at=expires_at,
        duration_days=duration_days,
        floating=form.get("floating") in {"on", "1", "true"},
        heartbeat_seconds=max(60, heartbeat_minutes * 60),
        entitlements=tuple(dict.fromkeys(names)),
        updates_days=updates_days,
    )
    return form.get("enabled") in {"on", "1", "true"}, policy


async def list_item_keys(
    services: Services, creator_id: uuid.UUID, item_id: uuid.UUID, search: str
) -> tuple[asyncpg.Record, list[License]]:
    item, _ = await issuance.get_item_policy(services, creator_id, item_id)
    return item, await queries.list_keys_of_item(services.pool, item_id, search.strip()[:200], MAX_LISTED)


async def _owned_locked(tx: Tx, creator_id: uuid.UUID, key_id: uuid.UUID) -> License:
    license = await queries.lock_key(tx.conn, key_id)
    if license is None or license.creator_id != creator_id:
        raise NotFound(NO_SUCH_KEY)
    return license


async def change_key(services: Services, creator_id: uuid.UUID, key_id: uuid.UUID, action: str) -> License:
    if action not in ACTIONS:
        raise NotFound("There is no such action.")

    async def body(tx: Tx) -> License:
        forget_on_commit(services, tx)
        license = await _owned_locked(tx, creator_id, key_id)
        if action == "suspend":
            await queries.update_key_status(tx.conn, key_id, "suspended", "suspended by the creator")
        elif action == "reinstate":
            await queries.update_key_status(tx.conn, key_id, "active", None)
        elif action == "revoke":
            await queries.update_key_status(tx.conn, key_id, "revoked", "revoked by the creator")
        else:
            await queries.delete_all_activations(tx.conn, key_id)
            await queries.recount_activations(tx.conn, key_id)
        return license

    return await run_tx(services.pool, f"licensing.{action}", body, metrics=services.metrics)


async def extend_key(
    services: Services,
    creator_id: uuid.UUID,
    key_id: uuid.UUID,
    expires_at: datetime | None,
    max_activations: int | None,
) -> None:
    """New terms for one key: its expiry (None: never) and its seats (None: unlimited)."""

    async def body(tx: Tx) -> None:
        forget_on_commit(services, tx)
        license = await _owned_locked(tx, creator_id, key_id)
        if max_activations is not None and max_activations < license.activation_count:
            raise ValidationFailed(
                "The key has more devices than that.",
                [
                    {
                        "field": "max_activations",
                        "message": f"{license.activation_count} devices use it: reset them first, or allow as many.",
                    }
                ],
            )
        await queries.update_key_terms(tx.conn, key_id, expires_at, max_activations)

    await run_tx(services.pool, "licensing.extend", body, metrics=services.metrics)
