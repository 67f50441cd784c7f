"""Periodic housekeeping run by the daemon: expired sessions, old rate-limit windows, sync log compaction."""

from __future__ import annotations

import asyncio
import logging
import time

from mnwd.accounts.sessions import sweep_expired_sessions
from mnwd.services import Services
from mnwd.sync.compaction import CompactionReport, compact

__all__ = ["compact_sync_log", "compaction_due", "run_maintenance"]

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600.0
# Compaction reads every stream; retention is counted in days, so a few runs a day are plenty.
COMPACTION_EVERY_SECONDS = 6 * 3600.0


def compaction_due(last: float | None, now: float, every: float) -> bool:
    """Whether a compaction that last started at ``last`` (monotonic seconds; None: never) is due."""
    return last is None or now - last >= every


async def sweep_once(services: Services) -> dict[str, int]:
    return {
        "sessions": await sweep_expired_sessions(services.pool),
        "rate_limit_windows": await services.limiter.sweep(),
    }


async def compact_sync_log(services: Services) -> CompactionReport:
    report = await compact(services.pool, tombstone_days=services.config.sync_tombstone_days, metrics=services.metrics)
    if report.deleted:
        log.info(report.summary(), extra={"streams": report.streams, "deleted": report.deleted})
    return report


async def run_maintenance(
    services: Services, interval: float = INTERVAL_SECONDS, compaction_every: float = COMPACTION_EVERY_SECONDS
) -> None:
    last_compaction: float | None = None
    while True:
        try:
            removed = await sweep_once(services)
            if any(removed.values()):
                log.info("maintenance swept", extra=removed)
        except Exception:
            log.exception("maintenance failed")
        now = time.monotonic()
        if compaction_due(last_compaction, now, compaction_every):
            last_compaction = now
            try:
                await compact_sync_log(services)
            except Exception:
                log.exception("sync compaction failed")
        await asyncio.sleep(interval)
