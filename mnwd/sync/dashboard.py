"""What creators and users see of their sync data: an app's usage counts, and a user's devices across apps.

- ``get_app_stats(pool, app_id)`` — ``AppStats`` of one app, from one aggregate statement (one snapshot).
  It does not check who asks: the page first finds the app with ``apps.get_creator_app``.
- ``list_user_devices(pool, user_id)`` — the user's devices in every app, grouped by app (``AppDevices``).
- ``revoke_user_device(pool, user_id, device_id)`` — what ``DELETE /sync/v1/devices/{id}`` does, without a
  token: sets ``revoked_at`` (kept if already set), so every token bound to the device is refused at once.
  Someone else's device raises ``NotFound``, as if it did not exist.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mnwd.errors import NotFound
from mnwd.sync import queries

__all__ = [
    "NO_SUCH_DEVICE",
    "AppDevices",
    "AppStats",
    "UserDevice",
    "get_app_stats",
    "list_user_devices",
    "revoke_user_device",
    "size_text",
]

NO_SUCH_DEVICE = "There is no such device."
UNITS = ("KB", "MB", "GB", "TB")


def size_text(size: int) -> str:
    """``size`` bytes for people: ``512 bytes``, ``1.5 KB``, ``20 MB`` (powers of 1024)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in UNITS:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


@dataclass(frozen=True)
class AppStats:
    """Usage of one app at ``as_of``. ``log_bytes`` is approximate: the stored (possibly compressed) size of
    the changes' data, without row overhead and indexes."""

    users: int
    active_devices: int
    revoked_devices: int
    log_rows: int
    log_bytes: int
    blobs: int
    blob_bytes: int
    last_activity: datetime | None
    as_of: datetime

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> AppStats:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def log_size(self) -> str:
        return size_text(self.log_bytes)

    @property
    def blob_size(self) -> str:
        return size_text(self.blob_bytes)


@dataclass(frozen=True)
class UserDevice:
    id: uuid.UUID
    device_name: str
    platform: str | None
    last_seen_at: datetime
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AppDevices:
    """One app's devices of a user: active first, most recently seen first."""

    app_id: uuid.UUID
    app_name: str
    app_active: bool
    devices: tuple[UserDevice, ...]


async def get_app_stats(pool: asyncpg.Pool, app_id: uuid.UUID) -> AppStats:
    return AppStats.from_record(await queries.get_app_stats(pool, app_id))


def _device(row: asyncpg.Record) -> UserDevice:
    return UserDevice(
        id=row["id"],
        device_name=row["device_name"],
        platform=row["platform"],
        last_seen_at=row["last_seen_at"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


async def list_user_devices(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[AppDevices]:
    grouped: list[AppDevices] = []
    rows = await queries.list_user_devices(pool, user_id)
    for app_id, app_rows in itertools.groupby(rows, key=lambda row: row["app_id"]):
        devices = list(app_rows)
        grouped.append(
            AppDevices(
                app_id=app_id,
                app_name=devices[0]["app_name"],
                app_active=devices[0]["app_active"],
                devices=tuple(_device(row) for row in devices),
            )
        )
    return grouped


async def revoke_user_device(pool: asyncpg.Pool, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    if not await queries.revoke_user_device(pool, user_id, device_id):
        raise NotFound(NO_SUCH_DEVICE)
