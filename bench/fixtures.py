"""Shared set-up of the sync benchmarks: an embedded PostgreSQL, mnwd's Services, the app served on a free
port of 127.0.0.1 (in this process, or as a separate ``python -m mnwd serve``), and users, a sync app,
access tokens and devices minted directly in the database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from bench.rounds import Options
from mnwd.app import create_app
from mnwd.config import PROJECT_ROOT, Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services
from mnwd.services import Services
from mnwd.sync import queries
from mnwd.sync.streams import stream_lock_key

JSON_HEADERS = {"Content-Type": "application/json"}
NO_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def payload() -> dict[str, Any]:
    """An E2E-encrypted record as a client sends it: about 200 bytes of JSON."""
    return {
        "ciphertext": base64.b64encode(secrets.token_bytes(120)).decode(),
        "iv": base64.b64encode(secrets.token_bytes(12)).decode(),
        "key_version": 1,
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Device:
    """One user's device: its access token (bound to the device once registered) and mutation counter."""

    user_id: uuid.UUID
    token: str
    device_id: str | None = None
    next_mutation: int = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def push_body(self, mutations: list[tuple[str, str, dict[str, Any] | None]], stamp: str) -> bytes:
        """``mutations``: (op, row_id, data); numbered from the device's counter."""
        batch = []
        for op, row_id, data in mutations:
            batch.append(
                {
                    "mutation_id": self.next_mutation,
                    "table": "notes",
                    "op": op,
                    "row_id": row_id,
                    "data": data,
                    "client_timestamp": stamp,
                }
            )
            self.next_mutation += 1
        return orjson.dumps({"device_id": self.device_id, "mutations": batch})


class SyncStack:
    """The database (``db_url``, ``services``) and, when served, mnwd's base URL."""

    def __init__(self, tmp: Path, cluster: EmbeddedPostgres, db_url: str, services: Services) -> None:
        self.tmp = tmp
        self.cluster = cluster
        self.db_url = db_url
        self.services = services
        self.base_url = ""
        self.app_id: uuid.UUID | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        return self.services.pool

    async def create_app(self) -> uuid.UUID:
        creator = (await self.create_users(1, prefix="maker"))[0]
        api_key = "mnwd_sk_" + secrets.token_urlsafe(32)
        self.app_id = await self.pool.fetchval(
            """
            INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix, redirect_uris)
            VALUES ($1, 'Notes', 'notes', $2, $3, $4) RETURNING id
            """,
            creator,
            hashlib.sha256(api_key.encode()).digest(),
            api_key[:12],
            ["http://127.0.0.1/callback"],
        )
        assert self.app_id is not None
        return self.app_id

    async def create_users(self, count: int, *, prefix: str = "user") -> list[uuid.UUID]:
        names = [f"{prefix}{i:05d}" for i in range(count)]
        rows = await self.pool.fetch(
            """
            INSERT INTO users (username, email) SELECT n, n || '@bench.invalid' FROM unnest($1::text[]) n
            RETURNING id, username
            """,
            names,
        )
        by_name = {r["username"]: r["id"] for r in rows}
        return [by_name[n] for n in names]

    async def mint_devices(self, user_ids: Sequence[uuid.UUID]) -> list[Device]:
        """An OAuth grant (scope ``sync``) and an access token per user, as the token endpoint would issue."""
        assert self.app_id is not None
        tokens = [secrets.token_urlsafe(32) for _ in user_ids]
        grants = [uuid.uuid4() for _ in user_ids]
        await self.pool.execute(
            "INSERT INTO oauth_grants (id, app_id, user_id, scope) SELECT g, $1, u, 'sync' "
            "FROM unnest($2::uuid[], $3::uuid[]) AS t(g, u)",
            self.app_id,
            grants,
            list(user_ids),
        )
        await self.pool.execute(
            """
            INSERT INTO oauth_access_tokens (grant_id, token_hash, expires_at)
            SELECT g, h, now() + interval '1 day' FROM unnest($1::uuid[], $2::bytea[]) AS t(g, h)
            """,
            grants,
            [hashlib.sha256(t.encode()).digest() for t in tokens],
        )
        return [Device(u, t) for u, t in zip(user_ids, tokens, strict=True)]

    async def register(self, session: aiohttp.ClientSession, device: Device, name: str) -> None:
        """``POST /sync/v1/devices``: registers the device and binds the token to it."""
        async with session.post(
            f"{self.base_url}/sync/v1/devices",
            json={"device_name": name, "platform": "linux"},
            headers=device.headers,
        ) as response:
            body = await response.json()
            assert response.status in (200, 201), body
            device.device_id = body["id"]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    # mnwd's SSE handler notices a gone client only at its next heartbeat (15 s): do not wait for it at the end.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def get_rate(
    url: str, requests: int, *, concurrency: int, headers: dict[str, str] | None = None, cookies: bool = True
) -> float:
    """GETs of ``url`` per second from ``concurrency`` clients (each answer must be 200), after one warm-up
    pass that opens the connections."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    jar = None if cookies else aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar, headers=headers) as session:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url) as response:
                    assert response.status == 200, response.status
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def _end_orphaned_handlers() -> None:
    """mnwd's SSE handler does not notice that its client has gone until its next heartbeat (15 s), and a
    handler whose connection is gone is no longer seen by the runner's graceful shutdown: end such handlers
    here, before the pool closes under them."""
    current = asyncio.current_task()
    handlers = [
        t
        for t in asyncio.all_tasks()
        if t is not current and getattr(t.get_coro(), "__qualname__", "") == "RequestHandler.start"
    ]
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


@contextlib.asynccontextmanager
async def sync_stack(options: Options, *, serve_here: bool = True) -> AsyncIterator[SyncStack]:
    """A throw-away cluster, migrated, with Services; mnwd served in this process unless ``serve_here`` is off.
    Durable commits unless ``options.fast_unsafe``."""
    logging.getLogger("mnwd.access").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cluster = EmbeddedPostgres(tmp / "pg", unsafe_fast=options.fast_unsafe)
        db_url = await cluster.start()
        try:
            config = Config.from_env({}, data_dir=tmp / "var", database_url=db_url)
            async with open_all_services(config) as services:
                stack = SyncStack(tmp, cluster, db_url, services)
                await stack.create_app()
                if not serve_here:
                    yield stack
                    return
                runner, stack.base_url = await serve(create_app(services))
                try:
                    yield stack
                finally:
                    await runner.cleanup()
                    await _end_orphaned_handlers()
        finally:
            await cluster.stop()


@contextlib.asynccontextmanager
async def subprocess_server(
    argv: Sequence[str],
    env: dict[str, str],
    port: int,
    log: Path,
    *,
    path: str = "/healthz",
    poll: float = 0.1,
    within: float = 60.0,
) -> AsyncIterator[tuple[int, float]]:
    """Run a server process until ``path`` answers 200 (polled every ``poll`` seconds, for up to ``within``):
    yields its pid and the seconds from spawning it to that answer; SIGTERM (then SIGKILL) at the end."""
    with log.open("ab") as out:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while not await _answers(session, url):
                if process.returncode is not None:
                    raise RuntimeError(f"{argv} exited with {process.returncode}: {log.read_text()[-2000:]}")
                if time.perf_counter() - started > within:
                    raise RuntimeError(f"{argv} did not answer on port {port}: {log.read_text()[-2000:]}")
                await asyncio.sleep(poll)
        yield process.pid, time.perf_counter() - started
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    """200 from ``url``; False while nothing listens yet (or anything else answers)."""
    try:
        async with session.get(url) as response:
            await response.read()
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


def mnwd_serve_argv() -> list[str]:
    return [sys.executable, "-m", "mnwd", "serve"]


# Live: a push by device A until device B, listening on /sync/v1/events, holds the change.


class Watcher:
    """Device B: an SSE stream; a poke that carries the changes right after its cursor is applied as it is,
    any other makes it pull from its cursor until it has everything."""

    def __init__(self, base_url: str, device: Device) -> None:
        self.base_url = base_url
        self.device = device
        self.cursor = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=NO_TIMEOUT)
        events = await self._session.get(f"{self.base_url}/sync/v1/events", headers=self.device.headers)
        assert events.status == 200, await events.text()
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._listen(events, ready))
        self.cursor = await ready

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _listen(self, events: aiohttp.ClientResponse, ready: asyncio.Future[int]) -> None:
        name = b""
        async with events:
            async for line in events.content:
                if line.startswith(b"event: "):
                    name = line[7:].strip()
                elif line.startswith(b"data: "):
                    data = orjson.loads(line[6:])
                    seq = data["seq"]
                    if name == b"ready":
                        ready.set_result(seq)
                    elif name == b"poke" and seq > self.cursor:
                        if data.get("after") == self.cursor:  # the poke holds everything after our cursor
                            self._hold(data["changes"])
                            self.cursor = seq
                        else:
                            await self._pull()

    def _hold(self, changes: list[dict[str, Any]]) -> None:
        now = time.perf_counter()
        for change in changes:
            future = self.waiting.pop(change["row_id"], None)
            if future is not None:
                future.set_result(now)

    async def _pull(self) -> None:
        assert self._session is not None
        while True:
            async with self._session.get(
                f"{self.base_url}/sync/v1/pull",
                params={"cursor": str(self.cursor), "limit": "1000"},
                headers=self.device.headers,
            ) as response:
                body = orjson.loads(await response.read())
            self._hold(body["changes"])
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return


async def live_latencies(
    base_url: str,
    pusher: Device,
    watcher: Watcher,
    count: int,
    *,
    warmup: int = 20,
    interval: float = 0.0,
    data_bytes: int = 0,
) -> list[float]:
    """Seconds from the start of A's push (one mutation, its payload padded by ``data_bytes``) until B, an
    event stream client already started, holds it; ``count`` times (one every ``interval`` seconds, or back to
    back)."""
    live: list[float] = []
    stamp = "2025-06-01T12:00:00Z"
    async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
        url = f"{base_url}/sync/v1/push"
        headers = {**pusher.headers, **JSON_HEADERS}
        next_at = time.perf_counter()
        for i in range(warmup + count):
            if interval and i >= warmup:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            row_id = str(uuid.uuid4())
            data = payload()
            if data_bytes:
                data["pad"] = "x" * data_bytes
            body = pusher.push_body([("INSERT", row_id, data)], stamp)
            held = asyncio.get_running_loop().create_future()
            watcher.waiting[row_id] = held
            pushed = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, await response.text()
            finished = await asyncio.wait_for(held, 10)
            if i >= warmup:
                live.append(finished - pushed)
    return live


# Pushers: the same mutations pushed through mnwd over HTTP, or by raw asyncpg on a connection of its own.

Batch = list[tuple[str, str, dict[str, Any] | None]]
PUSH_STAMP = "2025-06-01T12:00:00+00:00"


def batches(count: int, size: int, *, data_bytes: int = 0) -> list[Batch]:
    """``count`` batches of ``size`` INSERT/UPDATE mutations of new rows; ``data_bytes`` pads each payload."""
    ops = ("INSERT", "UPDATE")
    out: list[Batch] = []
    for _ in range(count):
        batch: Batch = []
        for i in range(size):
            data = payload()
            if data_bytes:
                data["pad"] = "x" * data_bytes
            batch.append((ops[i % 2], str(uuid.uuid4()), data))
        out.append(batch)
    return out


class HttpPusher:
    """``POST /sync/v1/push`` as a device does it; bodies are encoded before the clock starts."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, device: Device) -> None:
        self.session = session
        self.url = f"{base_url}/sync/v1/push"
        self.device = device
        self.headers = {**device.headers, **JSON_HEADERS}

    def prepare(self, batch: Batch) -> bytes:
        return self.device.push_body(batch, PUSH_STAMP)

    async def push(self, body: bytes) -> None:
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            answer = await response.read()
            assert response.status == 200, answer


class RawPusher:
    """Raw asyncpg calling the ``sync_push`` function mnwd calls, with the arguments it would pass."""

    def __init__(self, conn: asyncpg.Connection, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
        self.conn = conn
        self.stream = (app_id, user_id, device_id, stream_lock_key(app_id, user_id))
        self.prefix = f"{app_id}:{user_id}:"
        self.next_mutation = 1

    def arguments(self, prepared: tuple[tuple[int, int], tuple[list[Any], ...]]) -> list[Any]:
        """The positional arguments of `mnwd.sync.queries.SYNC_PUSH`, as `mnwd.sync.queries.sync_push` passes
        them."""
        span, columns = prepared
        app_id, user_id, device_id, lock = self.stream
        _, row_ids, data = columns[0], columns[3], columns[4]
        fits = sum(250 + len(r) + len(d or "") for r, d in zip(row_ids, data, strict=True)) <= 2000
        return [app_id, user_id, device_id, lock, *span, *columns, self.prefix, fits, 2000]

    def prepare(self, batch: Batch) -> tuple[tuple[int, int], tuple[list[Any], ...]]:
        stamp = datetime.fromisoformat(PUSH_STAMP)
        ids = list(range(self.next_mutation, self.next_mutation + len(batch)))
        self.next_mutation += len(batch)
        columns = (
            ids,
            ["notes"] * len(batch),
            [op for op, _, _ in batch],
            [row_id for _, row_id, _ in batch],
            [None if data is None else orjson.dumps(data).decode() for _, _, data in batch],
            [stamp] * len(batch),
        )
        return (ids[0], ids[-1]), columns

    async def push(self, prepared: tuple[tuple[int, int], tuple[list[Any], ...]]) -> None:
        span, columns = prepared
        ids, tables, ops, row_ids, data, stamps = columns
        written = await queries.push_changes(
            self.conn,
            self.stream,
            span,
            (ids, tables, ops, row_ids, data, stamps),
            (self.prefix, sum(250 + len(r) + len(d or "") for r, d in zip(row_ids, data, strict=True)) <= 2000, 2000),
        )
        assert written["outcome"] == "applied", written


FLOOR = """
WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock($1)),
inserted AS (
    INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id, data,
                          client_timestamp)
    SELECT $2, $3, $4, m.id, m.tbl, m.op, m.row_id, m.data::jsonb, m.stamp
    FROM locked, unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[])
         AS m(id, tbl, op, row_id, data, stamp)
    RETURNING seq
),
device AS (UPDATE sync_devices SET last_mutation_id = $11, last_seen_at = now() WHERE id = $4)
SELECT max(seq) FROM inserted
"""


class FloorPusher(RawPusher):
    """The floor: one ``INSERT … SELECT unnest`` with the stream lock and the device update, one statement."""

    async def push(self, prepared: tuple[tuple[int, int], tuple[list[Any], ...]]) -> None:
        span, columns = prepared
        app_id, user_id, device_id, lock = self.stream
        await self.conn.fetchval(FLOOR, lock, app_id, user_id, device_id, *columns, span[1])


async def raw_devices(stack: SyncStack, user_ids: Sequence[uuid.UUID], name: str) -> list[uuid.UUID]:
    """A device row per user (in order) for a raw pusher, named ``name``."""
    assert stack.app_id is not None
    rows = await stack.pool.fetch(
        """
        INSERT INTO sync_devices (app_id, user_id, device_name)
        SELECT $1, u, $3 || '-' || i FROM unnest($2::uuid[]) WITH ORDINALITY AS t(u, i) ORDER BY i
        RETURNING id
        """,
        stack.app_id,
        list(user_ids),
        name,
    )
    return [r["id"] for r in rows]
