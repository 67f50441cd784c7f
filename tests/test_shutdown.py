"""SIGTERM while requests are still arriving (issue 16, finding 20), against `mnwd serve` as a process.

aiohttp's own shutdown marked every connection closing and then ignored the bytes that came after, so a push
or upload whose body was still arriving got no answer and shutdown waited out the whole timeout (twice, with
a push stuck on a lock). Now such requests are read to the end and answered, and the process exits within
``MNWD_SHUTDOWN_TIMEOUT`` whatever is stuck.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson
import pytest

from mnwd.sync.streams import stream_lock_key
from tests.support.daemon import RunningDaemon, start_daemon
from tests.sync.streams import SyncApi

SHUTDOWN_TIMEOUT = 4.0
# After `serve` returns ("mnwd stopped"), the interpreter still tears down; on a busy test machine that took
# up to a few seconds. What is promised is measured on the daemon's own log.
TEARDOWN = 5.0


@pytest.fixture
def served(tmp_path: Path, db_url: str) -> Iterator[RunningDaemon]:
    daemon = start_daemon(tmp_path / "daemon", {"DATABASE_URL": db_url, "MNWD_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)})
    try:
        yield daemon
    finally:
        daemon.stop()


async def open_raw(daemon: RunningDaemon) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(daemon.env["MNWD_HTTP_PORT"]))


async def read_status(reader: asyncio.StreamReader, within: float) -> int:
    async with asyncio.timeout(within):
        line = await reader.readline()
    assert line, "the connection was closed without an answer"
    return int(line.split()[1])


async def exited_within(daemon: RunningDaemon, seconds: float) -> float:
    """Seconds from the daemon's "shutting down" to its "mnwd stopped" (by its log); fails unless that is at
    most ``seconds`` and the process has exited `TEARDOWN` seconds later."""
    started = time.monotonic()
    while daemon.process.poll() is None:
        if time.monotonic() - started > seconds + TEARDOWN:
            pytest.fail(f"mnwd serve still running {seconds}s after SIGTERM:\n{daemon.log()[-3000:]}")
        await asyncio.sleep(0.05)
    assert daemon.process.returncode == 0, daemon.log()[-3000:]
    times = {}
    for line in daemon.log().splitlines():
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry["msg"] in ("shutting down: draining requests", "mnwd stopped"):
                times[entry["msg"]] = datetime.fromisoformat(entry["ts"])
    took = (times["mnwd stopped"] - times["shutting down: draining requests"]).total_seconds()
    assert took <= seconds, daemon.log()[-3000:]
    return took


async def test_an_upload_whose_body_is_arriving_at_sigterm_is_finished(
    served: RunningDaemon, alice_api: SyncApi, pool: asyncpg.Pool
) -> None:
    data = os.urandom(200_000)
    key = hashlib.sha256(data).hexdigest()
    reader, writer = await open_raw(served)
    writer.write(
        f"PUT /sync/v1/blobs/{key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice_api.token}\r\n"
        f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    assert await read_status(reader, 5) == 100
    await reader.readline()
    writer.write(data[:100_000])
    await writer.drain()
    await asyncio.sleep(0.3)
    served.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(1.0)  # the daemon is draining now: it takes no new connection
    with pytest.raises(ConnectionError):
        await open_raw(served)
    writer.write(data[100_000:])
    await writer.drain()
    assert await read_status(reader, 5) == 201
    assert await pool.fetchval("SELECT count(*) FROM sync_blobs WHERE hash = $1", key) == 1
    await exited_within(served, SHUTDOWN_TIMEOUT)
    writer.close()


async def test_a_push_whose_body_is_arriving_at_sigterm_is_applied_and_answered(
    served: RunningDaemon, alice_api: SyncApi, pool: asyncpg.Pool
) -> None:
    body = orjson.dumps({"device_id": alice_api.device_id, "mutations": [alice_api.mutation("r1", {"n": 1})]})
    reader, writer = await open_raw(served)
    writer.write(
        f"POST /sync/v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice_api.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    served.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    writer.write(body[10:])
    await writer.drain()
    assert await read_status(reader, 5) == 200
    assert await pool.fetchval("SELECT count(*) FROM sync_log") == 1
    await exited_within(served, SHUTDOWN_TIMEOUT)
    writer.close()


async def test_shutdown_keeps_its_timeout_with_a_push_stuck_on_a_lock(
    served: RunningDaemon, alice_api: SyncApi, conn: asyncpg.Connection
) -> None:
    """A push waits for its stream's lock, which a transaction elsewhere holds past the shutdown timeout: the
    daemon still exits within ``MNWD_SHUTDOWN_TIMEOUT`` (it took twice as long)."""
    app_id, user_id = await conn.fetchrow(
        "SELECT app_id, user_id FROM sync_devices WHERE id = $1", uuid.UUID(alice_api.device_id)
    )
    body = orjson.dumps({"device_id": alice_api.device_id, "mutations": [alice_api.mutation("r1", {"n": 1})]})
    _, writer = await open_raw(served)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(app_id, user_id))
            writer.write(
                f"POST /sync/v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice_api.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            await asyncio.sleep(0.5)  # the push now waits for the lock
            served.process.send_signal(signal.SIGTERM)
            took = await exited_within(served, SHUTDOWN_TIMEOUT)
        assert took >= SHUTDOWN_TIMEOUT / 2  # it did wait for the push
        # The push was cancelled in the server too: it did not commit once the lock came free.
        await asyncio.sleep(0.5)
        assert await conn.fetchval("SELECT count(*) FROM sync_log") == 0
    finally:
        writer.close()
