"""The one clock of the daemon (`Services.clock`): wall time for what is stored or compared with stored
times, monotonic time for intervals. Tests replace it to move time without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock"]


class Clock:
    def now(self) -> datetime:
        """The current time, UTC."""
        return datetime.now(UTC)

    def time(self) -> float:
        """Seconds since the epoch (for expiry times kept in JSON state)."""
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
