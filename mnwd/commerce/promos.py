"""Promo codes: a creator's codes (``/dashboard/commerce/promos``) and the check a code passes before a
Checkout Session is created.

A code is stored upper-case, so matching ignores case. Purposes: ``discount`` (``percent`` 1..100 or
``fixed`` cents off), ``free_access`` (an item for nothing: no payment at all), ``free_trial`` (``trial_days``
on a subscription tier). A code applies to one item, one project (its items and tiers), one tier, or, with
no target, to everything the creator sells. `check_promo` raises `PromoCodeInvalid` with a ``reason``:
``unknown``, ``inactive``, ``not-started``, ``expired``, ``exhausted``, ``wrong-target``, ``wrong-purpose``.

Races: the use count is taken when a paid purchase is fulfilled, not when checkout starts; two buyers may
both pass the check for the last use, and both are served (they paid), the count stops at ``max_uses`` (the
schema's CHECK). A checkout that costs nothing takes the use first, in its transaction, so only one of two
racers gets a code's last use (`mnwd.commerce.checkout`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mnwd.commerce import queries
from mnwd.commerce.problems import PromoCodeInvalid
from mnwd.errors import ValidationFailed

__all__ = ["CODE_FORMAT", "Promo", "check_promo", "create_promo", "discounted", "normalize_code"]

CODE_FORMAT = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")


@dataclass(frozen=True)
class Promo:
    id: uuid.UUID
    code: str
    purpose: str
    discount_type: str | None
    discount_value: int | None
    trial_days: int | None


def normalize_code(raw: str) -> str:
    return raw.strip().upper()


def discounted(amount_cents: int, promo: Promo | None) -> int:
    if promo is None:
        return amount_cents
    if promo.purpose == "free_access":
        return 0
    if promo.purpose != "discount":
        return amount_cents
    assert promo.discount_value is not None
    if promo.discount_type == "percent":
        return max(0, amount_cents - (amount_cents * promo.discount_value + 50) // 100)
    return max(0, amount_cents - promo.discount_value)


async def check_promo(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    seller_id: uuid.UUID,
    raw_code: str | None,
    item_id: uuid.UUID | None = None,
    tier_id: uuid.UUID | None = None,
    project_id: uuid.UUID,
) -> Promo | None:
    if raw_code is None or not raw_code.strip():
        return None
    code = normalize_code(raw_code)
    row = await queries.get_promo(conn, seller_id, code) if CODE_FORMAT.match(code) else None
    if row is None:
        raise PromoCodeInvalid("There is no such promo code.", "unknown")
    if not row["is_active"]:
        raise PromoCodeInvalid("This promo code is no longer active.", "inactive")
    if not row["started"]:
        raise PromoCodeInvalid("This promo code is not valid yet.", "not-started")
    if row["expired"]:
        raise PromoCodeInvalid("This promo code has expired.", "expired")
    if row["max_uses"] is not None and row["use_count"] >= row["max_uses"]:
        raise PromoCodeInvalid("This promo code has been used up.", "exhausted")
    targets = (row["item_id"], row["project_id"], row["tier_id"])
    if any(t is not None for t in targets):
        fits = (
            (item_id is not None and row["item_id"] == item_id)
            or (tier_id is not None and row["tier_id"] == tier_id)
            or row["project_id"] == project_id
        )
        if not fits:
            raise PromoCodeInvalid("This promo code is for something else.", "wrong-target")
    purpose = row["code_purpose"]
    if (purpose == "free_trial" and tier_id is None) or (purpose == "free_access" and tier_id is not None):
        raise PromoCodeInvalid(
            "This promo code gives a free trial of a subscription."
            if purpose == "free_trial"
            else "This promo code gives free access to an item, not a subscription.",
            "wrong-purpose",
        )
    return Promo(row["id"], code, purpose, row["discount_type"], row["discount_value"], row["trial_days"])


def _int(values: dict[str, Any], name: str, errors: list[dict[str, str]], low: int, high: int) -> int | None:
    raw = str(values.get(name) or "").strip()
    if not raw:
        return None
    try:
        number = int(raw)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        errors.append({"field": name, "message": f"Give a whole number from {low} to {high}."})
        return None
    return number


def _moment(values: dict[str, Any], name: str, errors: list[dict[str, str]]) -> datetime | None:
    raw = str(values.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        errors.append({"field": name, "message": "Give a date and time like 2026-12-31T23:59:00Z."})
        return None
    if moment.tzinfo is None:
        errors.append({"field": name, "message": "Give the time zone too, e.g. Z for UTC."})
        return None
    return moment


async def create_promo(
    conn: asyncpg.Pool | asyncpg.Connection,
    seller_id: uuid.UUID,
    values: dict[str, Any],
    *,
    targets: dict[str, set[uuid.UUID]],
) -> asyncpg.Record:
    """``targets`` are the seller's own items, projects and tiers by kind: a code may point only at those."""
    errors: list[dict[str, str]] = []
    code = normalize_code(str(values.get("code") or ""))
    if not CODE_FORMAT.match(code):
        errors.append({"field": "code", "message": "3 to 64 letters, digits, - or _."})
    purpose = str(values.get("purpose") or "discount")
    row: dict[str, Any] = {"code": code, "code_purpose": purpose}
    if purpose == "discount":
        kind = str(values.get("discount_type") or "percent")
        if kind not in {"percent", "fixed"}:
            errors.append({"field": "discount_type", "message": "Percent or fixed."})
        high = 100 if kind == "percent" else 10_000_000
        row["discount_type"] = kind
        row["discount_value"] = _int(values, "discount_value", errors, 1, high)
        if row["discount_value"] is None and not any(e["field"] == "discount_value" for e in errors):
            errors.append({"field": "discount_value", "message": "Say how much off."})
    elif purpose == "free_trial":
        row["trial_days"] = _int(values, "trial_days", errors, 1, 365)
        if row["trial_days"] is None and not any(e["field"] == "trial_days" for e in errors):
            errors.append({"field": "trial_days", "message": "Say how many days."})
    elif purpose != "free_access":
        errors.append({"field": "purpose", "message": "A discount, free access or a free trial."})
    target = str(values.get("target") or "")
    if target:
        kind, _, raw_id = target.partition(":")
        try:
            target_id = uuid.UUID(raw_id)
        except ValueError:
            target_id = None
        if kind not in {"item", "project", "tier"} or target_id not in targets.get(kind, set()):
            errors.append({"field": "target", "message": "Pick one of your items, projects or tiers."})
        else:
            row[f"{kind}_id"] = target_id
            if purpose == "free_trial" and kind == "item":
                errors.append({"field": "target", "message": "A free trial is for a subscription tier."})
    row["max_uses"] = _int(values, "max_uses", errors, 1, 1_000_000)
    row["starts_at"] = _moment(values, "starts_at", errors)
    row["expires_at"] = _moment(values, "expires_at", errors)
    if row["starts_at"] and row["expires_at"] and row["starts_at"] >= row["expires_at"]:
        errors.append({"field": "expires_at", "message": "The end comes after the start."})
    if errors:
        raise ValidationFailed("The promo code has errors.", errors=errors)
    try:
        return await queries.insert_promo(conn, seller_id, row)
    except asyncpg.UniqueViolationError:
        raise ValidationFailed(
            "The promo code has errors.", errors=[{"field": "code", "message": "You already have this code."}]
        ) from None
