"""Staged files of puts cut short by a crash are swept by maintenance, at start and then periodically."""

from __future__ import annotations

import os
import time

from mnwd.maintenance import CORE_TASKS, run_task
from mnwd.services import Services


async def test_maintenance_removes_staged_files_a_crash_left_and_keeps_live_ones(services: Services) -> None:
    """A put killed with ``kill -9`` leaves its ``put-*.part`` behind; nothing ever read or removed it, so
    repeated crashes (or a client that makes them) filled the disk."""
    staging = services.blobs.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    stale = staging / "put-crashed.part"
    fresh = staging / "put-uploading.part"
    other = staging / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    (task,) = [t for t in CORE_TASKS if t.name == "blobs.staged"]
    await run_task(services, task)
    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()
