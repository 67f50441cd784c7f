"""Running `mnwd serve` as a real process for end-to-end tests (the ``daemon`` fixture), and `mnwd` commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import forkserver

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningDaemon:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def daemon_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNWD_") and k != "DATABASE_URL"}
    env.update(
        {
            "MNWD_DATA_DIR": str(data_dir),
            "MNWD_HTTP_PORT": str(free_port()),
            "MNWD_SSH_PORT": str(free_port()),
            "MNWD_LOG_LEVEL": "info",
            "MNWD_SHUTDOWN_TIMEOUT": "10",
        }
    )
    env.update(extra or {})
    return env


def spawn(env: dict[str, str], *args: str, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m mnwd ARGS`, forked from the warm fork server (tests/support/forkserver.py)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        return forkserver.Popen(
            [sys.executable, "-m", "mnwd", *args], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )


def wait_healthy(daemon: RunningDaemon, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(f"mnwd serve exited with {daemon.process.returncode}:\n{daemon.log()}")
        try:
            with urllib.request.urlopen(daemon.base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    daemon.stop(signal.SIGKILL)
    raise RuntimeError(f"mnwd serve did not answer /healthz within {timeout}s:\n{daemon.log()}")


def start_daemon(data_dir: Path, extra_env: dict[str, str] | None = None, *, wait: bool = True) -> RunningDaemon:
    env = daemon_env(data_dir, extra_env)
    log_path = data_dir / f"serve-{env['MNWD_HTTP_PORT']}.log"
    process = spawn(env, "serve", log_path=log_path)
    daemon = RunningDaemon(process, f"http://127.0.0.1:{env['MNWD_HTTP_PORT']}", log_path, env)
    if wait:
        wait_healthy(daemon)
    return daemon


def mnwd(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an `mnwd` command to completion (forked from the warm fork server)."""
    return forkserver.run(
        [sys.executable, "-m", "mnwd", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def daemon(tmp_path: Path, db_url: str) -> Iterator[RunningDaemon]:
    """`mnwd serve` as a separate process on free ports, against this test's database."""
    running = start_daemon(tmp_path / "daemon", {"DATABASE_URL": db_url})
    try:
        yield running
    finally:
        running.stop()
