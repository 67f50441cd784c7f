"""Embedded PostgreSQL start-up after a crash: real processes, killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import asyncpg
import pytest

from mnwd.db.embedded import EmbeddedPostgres, _is_postmaster, _postmaster_pid

DAEMON = """
import sys, time
from pathlib import Path
from mnwd.db.embedded import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
pg.start_blocking()
print(pg._server.get_pid(), flush=True)
time.sleep(120)
"""

STARTUP_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def initialized_pgdata() -> Iterator[Path]:
    """A data directory initdb made (its server stopped), copied for each test: initdb takes seconds (over 10 on
    a busy machine), and these tests are about starting after a crash, which begins after initdb either way."""
    root = Path(tempfile.mkdtemp(prefix="mnwd-test-crash-template-", dir="/tmp"))
    try:
        pg = EmbeddedPostgres(root / "pg")
        pg.start_blocking()
        pg.stop_blocking()
        yield root / "pg"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pgdata(initialized_pgdata: Path) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mnwd-test-crash-", dir="/tmp"))
    data = root / "pg"
    # cp -a keeps the owner (the server's own user) and modes that PostgreSQL checks.
    subprocess.run(["cp", "-a", str(initialized_pgdata), str(data)], check=True)
    try:
        yield data
    finally:
        pid = _postmaster_pid(data) if data.exists() else None
        if pid is not None and _is_postmaster(pid, data):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown of whatever a failed test left running
            _wait_until(partial(_is_gone, pid, data), 10)
        shutil.rmtree(root, ignore_errors=True)


def _is_gone(pid: int, pgdata: Path) -> bool:
    return not _is_postmaster(pid, pgdata)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _start_daemon(pgdata: Path) -> tuple[subprocess.Popen[str], int]:
    """A process standing in for the daemon: starts the server, prints the postmaster's pid, and waits."""
    daemon = subprocess.Popen([sys.executable, "-c", DAEMON, str(pgdata)], stdout=subprocess.PIPE, text=True)
    assert daemon.stdout is not None
    ready, _, _ = select.select([daemon.stdout], [], [], STARTUP_TIMEOUT)
    if not ready:
        _kill(daemon)
        pytest.fail("the stand-in daemon did not start PostgreSQL in time")
    line = daemon.stdout.readline()
    assert line.strip(), f"the stand-in daemon exited: {daemon.wait()}"
    return daemon, int(line)


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def _handles(pgdata: Path) -> list[int]:
    result: list[int] = json.loads((pgdata / ".handle_pids.json").read_text())
    return result


async def _select_one(pg: EmbeddedPostgres) -> int:
    conn = await asyncpg.connect(pg.url_for("postgres"))
    try:
        value: int = await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return value


def test_orphaned_postmaster_is_joined_and_stopped_on_a_graceful_stop(pgdata: Path) -> None:
    daemon, postmaster = _start_daemon(pgdata)
    _kill(daemon)
    assert _is_postmaster(postmaster, pgdata), "the orphaned postmaster keeps running"
    assert daemon.pid in _handles(pgdata)

    pg = EmbeddedPostgres(pgdata)
    pg.start_blocking()
    try:
        assert pg._server.get_pid() == postmaster, "the orphan is joined, not replaced"
        assert daemon.pid not in _handles(pgdata), "the dead daemon's pid is pruned"
        assert asyncio.run(_select_one(pg)) == 1
    finally:
        pg.stop_blocking()
    assert _wait_until(partial(_is_gone, postmaster, pgdata), 10), "the graceful stop stops PostgreSQL"


@pytest.mark.parametrize("order", ["postmaster-first", "daemon-first"])
def test_start_after_daemon_and_postmaster_were_both_killed(pgdata: Path, order: str) -> None:
    for _ in range(2):
        daemon, postmaster = _start_daemon(pgdata)
        if order == "postmaster-first":
            os.kill(postmaster, signal.SIGKILL)
            _kill(daemon)
        else:
            _kill(daemon)
            os.kill(postmaster, signal.SIGKILL)
        assert _wait_until(partial(_is_gone, postmaster, pgdata), 10)

        pg = EmbeddedPostgres(pgdata)
        pg.start_blocking()
        try:
            assert pg._server.get_pid() != postmaster
            assert asyncio.run(_select_one(pg)) == 1
            assert _handles(pgdata) == [os.getpid()]
        finally:
            pg.stop_blocking()
        assert not (pgdata / "postmaster.pid").exists()


@pytest.mark.parametrize("owner", ["sleep", "this-test"])
def test_stale_postmaster_pid_naming_an_unrelated_live_process(pgdata: Path, owner: str) -> None:
    pg = EmbeddedPostgres(pgdata)
    pg.start_blocking()
    pg.stop_blocking()
    assert not (pgdata / "postmaster.pid").exists()

    sleeper = subprocess.Popen(["sleep", "60"]) if owner == "sleep" else None
    try:
        pid = sleeper.pid if sleeper is not None else os.getpid()
        lines = [str(pid), str(pgdata), str(int(time.time())), "5432", str(pgdata), "", "  5432001    0", "ready"]
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")

        pg = EmbeddedPostgres(pgdata)
        pg.start_blocking()
        try:
            assert pg._server.get_pid() != pid
            assert _is_postmaster(pg._server.get_pid(), pgdata)
            assert asyncio.run(_select_one(pg)) == 1
        finally:
            pg.stop_blocking()
        if sleeper is not None:
            assert sleeper.poll() is None, "the unrelated process is left alone"
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
