"""Periodic housekeeping run by the daemon: expired sessions and old rate-limit windows."""

from __future__ import annotations

import asyncio
import logging

from mnwd.accounts.sessions import sweep_expired_sessions
from mnwd.services import Services

__all__ = ["run_maintenance"]

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600.0


async def sweep_once(services: Services) -> dict[str, int]:
    return {
        "sessions": await sweep_expired_sessions(services.pool),
        "rate_limit_windows": await services.limiter.sweep(),
    }


async def run_maintenance(services: Services, interval: float = INTERVAL_SECONDS) -> None:
    while True:
        try:
            removed = await sweep_once(services)
            if any(removed.values()):
                log.info("maintenance swept", extra=removed)
        except Exception:
            log.exception("maintenance failed")
        await asyncio.sleep(interval)
