"""What the OTA domain deals in: `Release`, `Artifact` and the `Slot` (target, arch, bundle type) it serves.

``Slot.parse(target, arch, bundle_type)`` checks what an updater or CI sends: a target of the form Tauri
uses (``linux``, ``darwin``, ``windows`` or a custom name), a known arch, a known bundle type; ``unknown`` and
the literal ``{{bundle_type}}`` of older clients mean none. Anything else is `BadRequest` (400).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from mnwd.errors import BadRequest

__all__ = ["ARCHES", "BUNDLE_TYPES", "Artifact", "Release", "Slot", "rfc3339"]

ARCHES = frozenset({"i686", "x86_64", "armv7", "aarch64", "riscv64"})
BUNDLE_TYPES = ("appimage", "deb", "rpm", "app", "msi", "nsis")
NO_BUNDLE_TYPE = frozenset({"", "unknown", "{{bundle_type}}"})
TARGET = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def rfc3339(moment: datetime) -> str:
    """Whole seconds, as the updater notes ask (`mnwd.timestamps.rfc3339` keeps microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Release:
    id: uuid.UUID
    version: str
    notes: str | None
    pub_date: datetime
    channel: str
    is_published: bool
    yanked_at: datetime | None
    rollout_percent: int
    min_version: str | None
    check_count: int
    download_count: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Release:
        return cls(
            id=row["id"],
            version=row["version"],
            notes=row["notes"],
            pub_date=row["pub_date"],
            channel=row["channel"],
            is_published=row["is_published"],
            yanked_at=row["yanked_at"],
            rollout_percent=row["rollout_percent"],
            min_version=row["min_version"],
            check_count=row["check_count"],
            download_count=row["download_count"],
        )

    @property
    def status(self) -> str:
        return "yanked" if self.yanked_at else "published" if self.is_published else "draft"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "version": self.version,
            "notes": self.notes,
            "pub_date": rfc3339(self.pub_date),
            "channel": self.channel,
            "status": self.status,
            "rollout_percent": self.rollout_percent,
            "min_version": self.min_version,
            "check_count": self.check_count,
            "download_count": self.download_count,
        }


@dataclass(frozen=True)
class Slot:
    """Where an artifact goes: target, arch and bundle type ('' for none)."""

    target: str
    arch: str
    bundle_type: str

    @classmethod
    def parse(cls, target: str, arch: str, bundle_type: str | None) -> Slot:
        if TARGET.fullmatch(target) is None:
            raise BadRequest("target must be linux, darwin, windows or a custom name of 1 to 64 a-z, 0-9, - or _.")
        if arch not in ARCHES:
            raise BadRequest(f"arch must be one of {', '.join(sorted(ARCHES))}.")
        bundle = bundle_type or ""
        if bundle in NO_BUNDLE_TYPE:
            bundle = ""
        elif bundle not in BUNDLE_TYPES:
            raise BadRequest(f"bundle_type must be one of {', '.join(BUNDLE_TYPES)}, unknown, or absent.")
        return cls(target, arch, bundle)

    @property
    def platform(self) -> str:
        return f"{self.target}-{self.arch}" + (f"-{self.bundle_type}" if self.bundle_type else "")


@dataclass(frozen=True)
class Artifact:
    id: uuid.UUID
    release_id: uuid.UUID
    slot: Slot
    file_name: str | None
    file_size: int
    signature: str | None
    sha256: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Artifact:
        return cls(
            id=row["id"],
            release_id=row["release_id"],
            slot=Slot(row["target"], row["arch"], row["bundle_type"]),
            file_name=row["file_name"],
            file_size=row["file_size"],
            signature=row["signature"],
            sha256=row["sha256"],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "target": self.slot.target,
            "arch": self.slot.arch,
            "bundle_type": self.slot.bundle_type or None,
            "file_name": self.file_name,
            "size": self.file_size,
            "sha256": self.sha256,
            "signature": self.signature,
        }
