"""Settings of the OAuth domain (``config.section(OAuthSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, seconds

__all__ = ["OAuthSettings"]


@dataclass(frozen=True)
class OAuthSettings(Section):
    bearer_cache_seconds: float

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "bearer_cache_seconds",
            "MNWD_BEARER_CACHE_SECONDS",
            "60",
            "Seconds a checked access token is remembered (revocations still apply at once); 0 turns it off.",
            seconds,
        ),
    )
