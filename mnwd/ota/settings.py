"""Settings of OTA updates (``config.section(OtaSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_float

__all__ = ["OtaSettings"]


@dataclass(frozen=True)
class OtaSettings(Section):
    build_timeout: float

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "build_timeout",
            "MNWD_OTA_BUILD_TIMEOUT",
            "1800",
            "Seconds a build on push may run before its processes are killed and it fails.",
            positive_float,
        ),
    )
