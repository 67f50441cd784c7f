"""Connections that are held without being used cannot exhaust `mnwd serve` (issue 16, finding 5).

Each test runs the real daemon as a process on this test's database and attacks it over TCP from a second
loopback address (127.0.0.2), so requests from 127.0.0.1 show what everyone else still gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.daemon import RunningDaemon, daemon_env, start_daemon, wait_healthy

ATTACKER = "127.0.0.2"


@contextlib.contextmanager
def running(tmp_path: Path, db_url: str, **env: str) -> Iterator[RunningDaemon]:
    daemon = start_daemon(tmp_path / "daemon", {"DATABASE_URL": db_url, **env})
    try:
        yield daemon
    finally:
        daemon.stop()


def port_of(daemon: RunningDaemon) -> int:
    return int(daemon.env["MNWD_HTTP_PORT"])


def healthz(daemon: RunningDaemon) -> int:
    with urllib.request.urlopen(daemon.base_url + "/healthz", timeout=5) as response:
        status: int = response.status
        return status


class Attacker:
    """Connections from 127.0.0.2, all closed at the end of the test."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []

    async def connect(self, daemon: RunningDaemon) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(daemon), local_addr=(ATTACKER, 0))
        self.writers.append(writer)
        return reader, writer

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def attacker() -> AsyncIterator[Attacker]:
    found = Attacker()
    yield found
    await found.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closed the connection (without answering) within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            data = await reader.read(1)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    assert data == b"", f"the server answered: {data!r}"
    return True


async def test_one_address_cannot_hold_more_than_its_share_of_connections(
    tmp_path: Path, db_url: str, attacker: Attacker
) -> None:
    """Attack: open idle connections from one host until the daemon runs out of file descriptors (20 000 did;
    /healthz stopped answering). Past the cap, each new connection is closed as soon as it is accepted."""
    with running(tmp_path, db_url, MNWD_HTTP_MAX_CONNECTIONS_PER_ADDRESS="20") as daemon:
        opened = [await attacker.connect(daemon) for _ in range(30)]
        closed = await asyncio.gather(*(closed_within(reader, 1.0) for reader, _ in opened))
        assert closed.count(False) == 20
        assert closed.count(True) == 10
        assert healthz(daemon) == 200  # another address is served
        # The held connections still work.
        reader, writer = next(pair for pair, gone in zip(opened, closed, strict=True) if not gone)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        # A connection closed gives its place back.
        writer.close()
        for _ in range(100):
            reader, writer = await attacker.connect(daemon)
            if not await closed_within(reader, 0.3):
                break
        else:
            pytest.fail("a closed connection never gave its place back")


async def test_a_slowloris_is_closed_after_the_header_timeout(tmp_path: Path, db_url: str, attacker: Attacker) -> None:
    """Attack: send a request's headers one byte every 0.2 s, for ever, on many connections; and open
    connections that send nothing at all. Each used to be kept (aiohttp waited an hour)."""
    with running(tmp_path, db_url, MNWD_HTTP_HEADER_TIMEOUT="1") as daemon:
        silent_reader, _ = await attacker.connect(daemon)
        reader, writer = await attacker.connect(daemon)
        started = time.monotonic()
        request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-Padding: " + b"a" * 1000
        closed_at = None
        for byte in request:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                closed_at = time.monotonic()
                break
            if await closed_within(reader, 0.2):
                closed_at = time.monotonic()
                break
            assert healthz(daemon) == 200
        assert closed_at is not None, "the slow client was never closed"
        assert 0.9 <= closed_at - started <= 3.0
        assert await closed_within(silent_reader, 1.0)
        # A keep-alive connection idle after its answer is closed too; until then it is served.
        reader, writer = await attacker.connect(daemon)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        body = await asyncio.wait_for(reader.read(100), 5)
        assert body
        assert await closed_within(reader, 3.0)


async def test_a_request_body_that_stops_arriving_is_closed(tmp_path: Path, db_url: str, attacker: Attacker) -> None:
    """Attack: promise a body, send part of it, then nothing (a slow POST holding a handler)."""
    with running(tmp_path, db_url, MNWD_HTTP_BODY_IDLE_TIMEOUT="1") as daemon:
        reader, writer = await attacker.connect(daemon)
        writer.write(
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000\r\n\r\ngrant_type=x&"
        )
        started = time.monotonic()
        assert not await closed_within(reader, 0.5)
        assert await closed_within(reader, 3.0)
        assert time.monotonic() - started >= 1.0
        assert healthz(daemon) == 200
        # A body that keeps coming, slowly, is read to the end and answered.
        reader, writer = await attacker.connect(daemon)
        body = b"grant_type=x&pad=" + b"p" * 17
        writer.write(
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for start in range(0, len(body), 5):
            writer.write(body[start : start + 5])
            await asyncio.sleep(0.5)  # 3.5 s in all, never 1 s without a byte
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 400")


def test_running_out_of_file_descriptors_is_logged_once_not_every_second(tmp_path: Path, db_url: str) -> None:
    """Attack: exhaust the daemon's file descriptors. asyncio reported every failed accept with a traceback
    (135 MB of log); now the first failure is logged and then one summary a minute."""
    env = daemon_env(tmp_path / "daemon", {"DATABASE_URL": db_url, "MNWD_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "0"})
    log_path = tmp_path / "daemon" / "serve.log"
    log_path.parent.mkdir(parents=True)

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))

    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "mnwd", "serve"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=low_file_limit,
        )
    daemon = RunningDaemon(process, f"http://127.0.0.1:{env['MNWD_HTTP_PORT']}", log_path, env)
    try:
        wait_healthy(daemon)
        asyncio.run(_flood(daemon, 220, hold=4.0))
        log = daemon.log()
        assert log.count("cannot accept connections") == 1, log[-3000:]
        assert "out of system resource" not in log
        assert healthz(daemon) == 200  # back once the flood is gone
    finally:
        daemon.stop()


async def _flood(daemon: RunningDaemon, count: int, *, hold: float) -> None:
    attacker = Attacker()
    try:
        for _ in range(count):
            with contextlib.suppress(OSError):
                await asyncio.wait_for(attacker.connect(daemon), 0.5)
        await asyncio.sleep(hold)
    finally:
        await attacker.close()
