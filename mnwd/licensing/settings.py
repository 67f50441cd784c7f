"""Settings of license keys (``config.section(LicensingSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_float, positive_int

__all__ = ["LicensingSettings"]


@dataclass(frozen=True)
class LicensingSettings(Section):
    per_key_per_minute: int
    per_address_per_minute: int
    file_ttl: float
    swap_cooldown: float

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "per_key_per_minute",
            "MNWD_LICENSE_RATE_PER_KEY",
            "60",
            "Calls of the license API (activate, validate, deactivate, heartbeat, file) one key may make per minute.",
            positive_int,
        ),
        Setting(
            "per_address_per_minute",
            "MNWD_LICENSE_RATE_PER_ADDRESS",
            "600",
            "Calls of the license API one IP address may make per minute, whatever the key.",
            positive_int,
        ),
        Setting(
            "file_ttl",
            "MNWD_LICENSE_FILE_TTL",
            "2592000",
            "Seconds an offline license file stays valid when the app does not ask for less (at least 3600).",
            positive_float,
        ),
        Setting(
            "swap_cooldown",
            "MNWD_LICENSE_SWAP_COOLDOWN",
            "86400",
            "Seconds a buyer waits between two swaps of a key's least recently seen device.",
            positive_float,
        ),
    )
