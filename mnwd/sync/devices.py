"""Devices of a user in an app: register (idempotent by name), list, rename, revoke."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.metrics import Metrics
from mnwd.oauth import Bearer, bind_device
from mnwd.sync import queries
from mnwd.timestamps import rfc3339

__all__ = [
    "DeviceIn",
    "DeviceRename",
    "device_json",
    "list_devices",
    "register_device",
    "rename_device",
    "revoke_device",
]

MAX_NAME = 100
MAX_PLATFORM = 50


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    device_name: str
    platform: str | None = None


class DeviceRename(msgspec.Struct, forbid_unknown_fields=True):
    device_name: str


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def device_json(row: asyncpg.Record, bearer: Bearer) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "device_name": row["device_name"],
        "platform": row["platform"],
        "last_mutation_id": row["last_mutation_id"],
        "last_seen_at": _rfc3339(row["last_seen_at"]),
        "created_at": _rfc3339(row["created_at"]),
        "revoked": row["revoked_at"] is not None,
        "current": row["id"] == bearer.device_id,
    }


def _clean_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise ValidationFailed(
            "The device name is not valid.",
            errors=[{"field": "device_name", "message": f"Use 1 to {MAX_NAME} printable characters."}],
        )
    return name


async def register_device(
    pool: asyncpg.Pool, bearer: Bearer, body: DeviceIn, *, metrics: Metrics | None = None
) -> tuple[dict[str, Any], bool]:
    name = _clean_name(body.device_name)
    platform = (body.platform or "").strip()[:MAX_PLATFORM] or None

    async def register(tx: Tx) -> tuple[asyncpg.Record, bool]:
        row, created = await queries.upsert_device(tx.conn, bearer.app_id, bearer.user_id, name, platform)
        if row["revoked_at"] is not None:
            raise Conflict(f"The device {name!r} was revoked; register this device under another name.")
        if not await bind_device(tx.conn, bearer.grant_id, row["id"]):
            raise Conflict("This access token already belongs to another device; sign in again on this one.")
        return row, created

    row, created = await run_tx(pool, "sync.register_device", register, metrics=metrics)
    payload = device_json(row, bearer)
    payload["current"] = True
    return payload, created


async def list_devices(pool: asyncpg.Pool, bearer: Bearer) -> list[dict[str, Any]]:
    return [device_json(row, bearer) for row in await queries.list_devices(pool, bearer.app_id, bearer.user_id)]


async def rename_device(pool: asyncpg.Pool, bearer: Bearer, device_id: uuid.UUID, body: DeviceRename) -> dict[str, Any]:
    name = _clean_name(body.device_name)
    try:
        row = await queries.rename_device(pool, bearer.app_id, bearer.user_id, device_id, name)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"You already have a device named {name!r}.") from None
    if row is None:
        raise NotFound("There is no such device.")
    return device_json(row, bearer)


async def revoke_device(pool: asyncpg.Pool, bearer: Bearer, device_id: uuid.UUID) -> None:
    if not await queries.revoke_device(pool, bearer.app_id, bearer.user_id, device_id):
        raise NotFound("There is no such device.")
