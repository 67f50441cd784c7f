"""What each creator tier allows: the largest file, the storage in all, the number of projects.

One table in code (`TIER_LIMITS`); `users.creator_tier` picks the row (a creator without a tier gets
``basic``) and `users.max_file_override_bytes` raises the largest file for one user. `check_upload` decides
from a declared size (``Content-Length``) before a byte is read, and names the limit and the tier that lifts it.
The creator platform issue adds subscriptions to tiers. The table itself lives in the base module
`mnwd.tiers` (git hosting reads it too) and is re-exported here.
"""

from __future__ import annotations

from mnwd.errors import PayloadTooLarge
from mnwd.tiers import GB, MB, TIER_LIMITS, TIERS, TierLimits, human_size, limits_for

__all__ = ["GB", "MB", "TIERS", "TIER_LIMITS", "TierLimits", "check_upload", "limits_for"]


def _lifting_tier(needed: int, attribute: str) -> str | None:
    for name in TIERS:
        if getattr(TIER_LIMITS[name], attribute) >= needed:
            return name
    return None


def _human(size: int) -> str:
    return human_size(size)


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
