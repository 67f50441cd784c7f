"""Periodic housekeeping run by every daemon: the base's own sweeps and each domain's `Periodic` tasks.

The base sweeps expired rate-limit windows, browser states, finished jobs, the staged files of
blob puts that a crash left behind, and stored bytes that no row names any more (a few thousand blobs per
hour, continuing where the last run stopped; `mnwd.blobs.references.sweep_unreferenced`). Each task runs soon
after start, then every ``every`` seconds; a failure is logged and the task runs again at its next turn.
Tasks must be safe to run on several daemons at once (they are deletes of what has expired, or take their own locks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from mnwd.blobs import sweep_stale_staged
from mnwd.blobs.references import sweep_unreferenced
from mnwd.db import jobs
from mnwd.domain import Periodic
from mnwd.services import ServiceKey, Services
from mnwd.web.browser import sweep_expired_states

__all__ = ["CORE_TASKS", "is_due", "run_maintenance", "run_task"]

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0
TICK_SECONDS = 60.0
# A put writes its staged file as the bytes arrive: one untouched this long was left by a crash.
STALE_STAGED_SECONDS = 3600.0
UNREFERENCED_SECONDS = 3600.0
# Bytes younger than this are left alone: their row may be about to be recorded.
UNREFERENCED_GRACE_SECONDS = 86400.0
UNREFERENCED_PAGES_PER_RUN = 10


async def sweep_rate_limit_windows(services: Services) -> int:
    return await services.limiter.sweep()


async def sweep_browser_states(services: Services) -> int:
    return await sweep_expired_states(services.pool)


async def sweep_done_jobs(services: Services) -> int:
    return await jobs.sweep(services.pool)


async def sweep_staged_blobs(services: Services) -> int:
    written_before = services.clock.time() - STALE_STAGED_SECONDS
    return await asyncio.to_thread(sweep_stale_staged, services.blobs.staging_dir, written_before)


class SweepCursor:
    """Where this daemon's walk of the blob store stopped ("": at the start)."""

    def __init__(self) -> None:
        self.after = ""


SWEEP_CURSOR = ServiceKey("maintenance.blob_sweep_cursor", SweepCursor)


async def sweep_unreferenced_blobs(services: Services) -> int:
    if SWEEP_CURSOR not in services:
        services[SWEEP_CURSOR] = SweepCursor()
    cursor = services[SWEEP_CURSOR]
    written_before = services.clock.time() - UNREFERENCED_GRACE_SECONDS
    deleted = 0
    for _ in range(UNREFERENCED_PAGES_PER_RUN):
        cursor.after, collected = await sweep_unreferenced(services, cursor.after, written_before=written_before)
        deleted += collected
        if not cursor.after:
            break
    return deleted


CORE_TASKS = (
    Periodic("ratelimit.windows", SWEEP_SECONDS, sweep_rate_limit_windows),
    Periodic("web.browser_states", SWEEP_SECONDS, sweep_browser_states),
    Periodic("jobs.done", SWEEP_SECONDS, sweep_done_jobs),
    Periodic("blobs.staged", SWEEP_SECONDS, sweep_staged_blobs),
    Periodic("blobs.unreferenced", UNREFERENCED_SECONDS, sweep_unreferenced_blobs),
)


def is_due(last: float | None, now: float, every: float) -> bool:
    """Whether a task that last started at ``last`` (monotonic seconds; None: never) is due."""
    return last is None or now - last >= every


async def run_task(services: Services, task: Periodic) -> None:
    try:
        outcome = await task.run(services)
    except Exception:
        log.exception("maintenance task failed", extra={"task": task.name})
        return
    if outcome:
        log.info("maintenance task done", extra={"task": task.name, "outcome": str(outcome)})


async def run_maintenance(services: Services, tasks: Sequence[Periodic], tick: float = TICK_SECONDS) -> None:
    last: dict[str, float] = {}
    while True:
        for task in tasks:
            now = services.clock.monotonic()
            if is_due(last.get(task.name), now, task.every):
                last[task.name] = now
                await run_task(services, task)
        await asyncio.sleep(tick)
