"""What each creator tier allows: the largest file, the storage in all, the number of projects.

One table in code (`TIER_LIMITS`); `users.creator_tier` picks the row (a creator without a tier gets
``basic``) and `users.max_file_override_bytes` raises the largest file for one user. `check_upload` decides
from a declared size (``Content-Length``) before a byte is read, and names the limit and the tier that lifts it.
The creator platform issue adds subscriptions to tiers; the limits stay here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mnwd.errors import PayloadTooLarge

__all__ = ["TIERS", "TIER_LIMITS", "TierLimits", "check_upload", "limits_for"]

MB = 1 << 20
GB = 1 << 30


@dataclass(frozen=True)
class TierLimits:
    tier: str
    largest_file_bytes: int
    storage_bytes: int
    max_projects: int


TIERS = ("basic", "small_files", "big_files", "everything")

TIER_LIMITS = {
    "basic": TierLimits("basic", 100 * MB, 1 * GB, 10),
    "small_files": TierLimits("small_files", 500 * MB, 10 * GB, 50),
    "big_files": TierLimits("big_files", 5 * GB, 100 * GB, 200),
    "everything": TierLimits("everything", 20 * GB, 1024 * GB, 1000),
}


def limits_for(tier: str | None) -> TierLimits:
    return TIER_LIMITS[tier or "basic"]


def _lifting_tier(needed: int, attribute: str) -> str | None:
    for name in TIERS:
        if getattr(TIER_LIMITS[name], attribute) >= needed:
            return name
    return None


def _human(size: int) -> str:
    return f"{size / GB:g} GB" if size >= GB else f"{size / MB:g} MB"


def check_upload(*, tier: str | None, override_bytes: int | None, used_bytes: int, size: int) -> None:
    """Raises `PayloadTooLarge` (413) when a file of ``size`` bytes is past the largest file or the storage
    left for a creator of ``tier``."""
    limits = limits_for(tier)
    largest = max(limits.largest_file_bytes, override_bytes or 0)
    if size > largest:
        lifting = _lifting_tier(size, "largest_file_bytes")
        hint = f" The {lifting} tier allows it." if lifting else ""
        raise PayloadTooLarge(
            f"This file is {_human(size)}; the {limits.tier} tier allows files up to {_human(largest)}.{hint}",
            limit=largest,
            tier=limits.tier,
            lifting_tier=lifting,
        )
    if used_bytes + size > limits.storage_bytes:
        lifting = _lifting_tier(used_bytes + size, "storage_bytes")
        hint = f" The {lifting} tier allows more." if lifting else ""
        raise PayloadTooLarge(
            f"This file would take your storage to {_human(used_bytes + size)}; the {limits.tier} tier "
            f"allows {_human(limits.storage_bytes)}.{hint}",
            limit=limits.storage_bytes,
            tier=limits.tier,
            lifting_tier=lifting,
        )
