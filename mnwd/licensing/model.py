"""The values of the licensing domain: `License` (a key's row with its item), `Activation`, `Policy`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["EXPIRY_KINDS", "Activation", "License", "Policy"]

EXPIRY_KINDS = ("none", "fixed", "duration")


@dataclass(frozen=True)
class License:
    id: uuid.UUID
    item_id: uuid.UUID
    item_title: str
    creator_id: uuid.UUID
    owner_id: uuid.UUID | None
    owner_username: str | None
    transaction_id: uuid.UUID | None
    key_code: str
    key_last: str | None
    status: str
    source: str
    issued_to_email: str | None
    max_activations: int | None
    activation_count: int
    expires_at: datetime | None
    floating: bool
    heartbeat_seconds: int
    entitlements: list[str]
    updates_until: datetime | None
    last_swap_at: datetime | None
    revoked_reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> License:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def effective_status(self, now: datetime) -> str:
        """active / suspended / revoked / expired: the stored status, or expired once its date passed."""
        if self.status == "active" and self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return self.status

    def all_entitlements(self) -> list[str]:
        """The key's entitlements: the item itself (``item:<id>``), the creator's own names, and
        ``updates-until:<date>`` when updates end."""
        named = [f"item:{self.item_id}", *self.entitlements]
        if self.updates_until is not None:
            named.append(f"updates-until:{self.updates_until.date().isoformat()}")
        return named

    def summary(self, now: datetime) -> dict[str, Any]:
        """The ``license`` object of the API's answers."""
        return {
            "id": str(self.id),
            "item_id": str(self.item_id),
            "item": self.item_title,
            "status": self.effective_status(now),
            "max_activations": self.max_activations,
            "activation_count": self.activation_count,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "floating": self.floating,
            "heartbeat_seconds": self.heartbeat_seconds if self.floating else None,
            "entitlements": self.all_entitlements(),
            "updates_until": self.updates_until.isoformat() if self.updates_until else None,
        }


@dataclass(frozen=True)
class Activation:
    id: uuid.UUID
    license_key_id: uuid.UUID
    machine_id: str
    machine_name: str | None
    platform: str | None
    app_version: str | None
    last_seen_at: datetime
    lease_expires_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Activation:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def lease_dead(self, now: datetime) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at <= now

    def summary(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "fingerprint": self.machine_id,
            "name": self.machine_name,
            "platform": self.platform,
            "app_version": self.app_version,
            "last_seen_at": self.last_seen_at.isoformat(),
            "lease_expires_at": self.lease_expires_at.isoformat() if self.lease_expires_at else None,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Policy:
    """What each new key of an item gets. ``max_activations`` None: unlimited."""

    max_activations: int | None = 3
    expiry: str = "none"
    expires_at: datetime | None = None
    duration_days: int | None = None
    floating: bool = False
    heartbeat_seconds: int = 600
    entitlements: tuple[str, ...] = ()
    updates_days: int | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Policy:
        return cls(
            max_activations=row["max_activations"],
            expiry=row["expiry"],
            expires_at=row["expires_at"],
            duration_days=row["duration_days"],
            floating=row["floating"],
            heartbeat_seconds=row["heartbeat_seconds"],
            entitlements=tuple(row["entitlements"]),
            updates_days=row["updates_days"],
        )
