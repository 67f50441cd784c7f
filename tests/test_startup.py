"""How fast `mnwd serve` starts and stops (docs/performance.md, "Blobs and start-up"): optional libraries
stay unloaded until used, the collector is back on once started, and an idle daemon exits at once on SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from mnwd.config import Config
from mnwd.daemon import serve
from mnwd.services import Services
from tests.support.daemon import free_port, start_daemon

# Libraries only some daemons or requests need: S3 (boto3), payments (stripe), passkey ceremonies (webauthn),
# DKIM signing (dkim), custom-domain checks (dns), git SSH (asyncssh: `mnwd serve` loads it with its
# listener), images (PIL), markdown rendering (markdown_it).
OPTIONAL = ("boto3", "botocore", "stripe", "webauthn", "fido2", "dkim", "dns", "asyncssh", "PIL", "markdown_it")

# An idle daemon stops in tens of milliseconds, by its log; the bounds leave room for a busy test machine,
# whose interpreter teardown after "mnwd stopped" took seconds at times (tests/test_shutdown.py, TEARDOWN).
IDLE_STOP_SECONDS = 0.5
IDLE_EXIT_SECONDS = 5.0


def test_importing_the_daemon_loads_no_optional_library() -> None:
    probe = f"import sys, mnwd.daemon, mnwd.cli; print([m for m in {OPTIONAL!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_a_command_runs_with_the_collector_on() -> None:
    """`python -m mnwd` turns the collector off while importing; every command turns it back on. (Run in a
    process of its own: `main` configures the process's logging.)"""
    result = subprocess.run(
        [sys.executable, "-c", COLLECTOR_PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "/sync/v1/blobs/{sha256}" in result.stdout
    assert result.stderr.strip().splitlines()[-2:] == ["importing mnwd.cli: collector False", "at exit: collector True"]


# ``python -m mnwd routes``, saying whether the collector was on when mnwd.cli was imported and at the end.
COLLECTOR_PROBE = """
import atexit, gc, runpy, sys

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "mnwd.cli":
            print("importing mnwd.cli: collector", gc.isenabled(), file=sys.stderr)
        return None

sys.meta_path.insert(0, Watch())
atexit.register(lambda: print("at exit: collector", gc.isenabled(), file=sys.stderr))
sys.argv = ["mnwd", "routes"]
runpy.run_module("mnwd", run_name="__main__", alter_sys=True)
"""


async def test_serve_turns_the_collector_on_once_started(config: Config) -> None:
    config = dataclasses.replace(config, http_port=free_port(), ssh_port=free_port())
    seen: list[tuple[bool, int]] = []
    stop = asyncio.Event()

    def ready(services: Services, port: int) -> None:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        stop.set()

    gc.disable()
    try:
        await asyncio.wait_for(serve(config, ready=ready, stop=stop), 60)
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
    [(enabled, frozen)] = seen
    assert enabled
    assert frozen > 0


def test_an_idle_daemon_stops_at_once_on_sigterm(tmp_path: Path, db_url: str) -> None:
    daemon = start_daemon(tmp_path / "daemon", {"DATABASE_URL": db_url})
    try:
        time.sleep(0.5)  # past start-up's own work (the first maintenance round)
        sent = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        daemon.process.wait(IDLE_EXIT_SECONDS + 30)
        exited = time.monotonic() - sent
    finally:
        daemon.stop(signal.SIGKILL)
    assert daemon.process.returncode == 0, daemon.log()[-3000:]
    times = {}
    for line in daemon.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["msg"] in ("shutting down: draining requests", "mnwd stopped"):
                times[entry["msg"]] = entry["ts"]
    took = (
        datetime.fromisoformat(times["mnwd stopped"])
        - datetime.fromisoformat(times["shutting down: draining requests"])
    ).total_seconds()
    assert took < IDLE_STOP_SECONDS, daemon.log()[-3000:]
    assert exited < IDLE_EXIT_SECONDS, (exited, daemon.log()[-3000:])
