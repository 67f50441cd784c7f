"""What each creator tier allows: the largest file, the storage in all, the number of projects, SyncKit apps
and OTA artifact storage.

One table in code (`TIER_LIMITS`); `users.creator_tier` picks the row (a creator without a tier gets
``basic``) and `users.max_file_override_bytes` raises the largest file for one user. While
`users.grandfathered_until` is ahead, a creator has the `GRANDFATHERED_TIER` limits: the SQL function
``creator_effective_tier(creator_tier, grandfathered_until)`` (migration 0036) is what every query deciding a
limit selects as the tier, so no caller forgets it. A base module: the store (`mnwd.store.limits`, which
re-exports these), git hosting (push quota), apps (SyncKit apps) and OTA (artifact storage) read it.

- ``lifting_tier(needed, attribute)`` — the smallest tier whose ``attribute`` reaches ``needed`` (or None).
- ``check_count(tier, attribute, count, noun)`` — `TierLimitReached` (403 ``tier-limit``) when a creator who
  has ``count`` of something may not make one more.
- ``check_stored(tier, override, used, size, attribute, noun)`` — `PayloadTooLarge` (413) when a file of
  ``size`` bytes is past the largest file or the room left under ``attribute``; both name the limit, the
  creator's tier and the tier that lifts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mnwd.errors import Forbidden, PayloadTooLarge

__all__ = [
    "GB",
    "GRANDFATHERED_TIER",
    "MB",
    "TIERS",
    "TIER_LIMITS",
    "TierLimitReached",
    "TierLimits",
    "check_count",
    "check_stored",
    "human_size",
    "lifting_tier",
    "limits_for",
]

MB = 1 << 20
GB = 1 << 30


@dataclass(frozen=True)
class TierLimits:
    tier: str
    largest_file_bytes: int
    storage_bytes: int
    max_projects: int
    max_sync_apps: int
    ota_storage_bytes: int


TIERS = ("basic", "small_files", "big_files", "everything")

TIER_LIMITS = {
    "basic": TierLimits("basic", 100 * MB, 1 * GB, 10, 10, 2 * GB),
    "small_files": TierLimits("small_files", 500 * MB, 10 * GB, 50, 25, 10 * GB),
    "big_files": TierLimits("big_files", 5 * GB, 100 * GB, 200, 100, 50 * GB),
    "everything": TierLimits("everything", 20 * GB, 1024 * GB, 1000, 500, 200 * GB),
}
GRANDFATHERED_TIER = "everything"  # also in the SQL function creator_effective_tier (migration 0036)


def limits_for(tier: str | None) -> TierLimits:
    return TIER_LIMITS[tier or "basic"]


def human_size(size: int) -> str:
    if size >= GB:
        return f"{size / GB:g} GB"
    return f"{size / MB:g} MB" if size >= MB else f"{size:,} bytes"


class TierLimitReached(Forbidden):
    slug = "tier-limit"

    def __init__(self, detail: str, *, limit: int, tier: str, lifting_tier: str | None) -> None:
        super().__init__(detail, limit=limit, tier=tier, lifting_tier=lifting_tier)


def lifting_tier(needed: int, attribute: str) -> str | None:
    for name in TIERS:
        if getattr(TIER_LIMITS[name], attribute) >= needed:
            return name
    return None


def check_count(tier: str | None, attribute: str, count: int, noun: str) -> None:
    """403 when a creator who has ``count`` ``noun`` (plural) may not make one more."""
    limits = limits_for(tier)
    limit: int = getattr(limits, attribute)
    if count + 1 > limit:
        lifting = lifting_tier(count + 1, attribute)
        hint = f" The {lifting} tier allows more." if lifting else ""
        raise TierLimitReached(
            f"The {limits.tier} tier allows {limit} {noun}; you have {count}.{hint}",
            limit=limit,
            tier=limits.tier,
            lifting_tier=lifting,
        )


def check_stored(tier: str | None, override_bytes: int | None, used: int, size: int, attribute: str, noun: str) -> None:
    """413 when one more file of ``size`` bytes is past the largest file or the ``attribute`` room."""
    limits = limits_for(tier)
    largest = max(limits.largest_file_bytes, override_bytes or 0)
    if size > largest:
        lifting = lifting_tier(size, "largest_file_bytes")
        hint = f" The {lifting} tier allows it." if lifting else ""
        raise PayloadTooLarge(
            f"This file is {human_size(size)}; the {limits.tier} tier allows files up to {human_size(largest)}.{hint}",
            limit=largest,
            tier=limits.tier,
            lifting_tier=lifting,
        )
    room: int = getattr(limits, attribute)
    if used + size > room:
        lifting = lifting_tier(used + size, attribute)
        hint = f" The {lifting} tier allows more." if lifting else ""
        raise PayloadTooLarge(
            f"This file would take your {noun} to {human_size(used + size)}; the {limits.tier} tier allows "
            f"{human_size(room)}.{hint}",
            limit=room,
            tier=limits.tier,
            lifting_tier=lifting,
        )
