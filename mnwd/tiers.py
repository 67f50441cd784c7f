"""What each creator tier allows: the largest file, the storage in all, the number of projects.

One table in code (`TIER_LIMITS`); `users.creator_tier` picks the row (a creator without a tier gets
``basic``) and `users.max_file_override_bytes` raises the largest file for one user. A base module: the
store (`mnwd.store.limits`, which re-exports these) and git hosting (push quota) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GB", "MB", "TIERS", "TIER_LIMITS", "TierLimits", "human_size", "limits_for"]

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


def human_size(size: int) -> str:
    return f"{size / GB:g} GB" if size >= GB else f"{size / MB:g} MB"
