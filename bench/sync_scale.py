"""Scale: 2 000 concurrent idle SSE clients (``GET /sync/v1/events``, one user each) on one daemon run as a
separate ``python -m mnwd serve`` process, so that its RSS can be read.

- memory per client: the server's RSS growth divided by the clients, against a bare aiohttp server (also a
  separate process) that holds the same SSE requests open with a handler that only writes heartbeats;
- live latency (push by A until B holds it, p50 and p99) while the 2 000 are held for `HOLD_SECONDS` (3
  minutes), p99 per minute so that it holds *throughout*, against the same measurement on the same daemon
  for a minute before they connected and a minute after they left (the baseline shows both: the machine's
  own drift over minutes); the daemon remembers checked tokens for its default 60 s, so the idle
  streams' heartbeats (every 15 s) and their token re-checks (once their remembered checks age out, spread
  over the second half of that minute) fall inside three times over;
- PostgreSQL connections of the daemon with the clients connected, against before: SSE waits in process.

``python -m bench.sync_scale bare PORT`` runs the bare server.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys

import aiohttp
import orjson
import psutil
from aiohttp import web

from bench.fixtures import (
    NO_TIMEOUT,
    Device,
    SyncStack,
    Watcher,
    free_port,
    live_latencies,
    mnwd_serve_argv,
    percentile,
    subprocess_server,
    sync_stack,
)
from bench.report import Result
from bench.rounds import Options

CLIENTS = 2000
FIRST = 100  # connected before the "before" reading, so that every code path has run once
OPENING = 50  # connections being opened at once
# Pushes while the idle clients are held, one every PUSH_INTERVAL, read in windows of a minute.
HOLD_SECONDS = 180.0
WINDOW_SECONDS = 60.0
PUSH_INTERVAL = 0.1
HEARTBEAT_SECONDS = 15.0
SETTLE_SECONDS = 1.0  # before an RSS reading (0.1 s with --quick)


class IdleClients:
    """SSE clients that read their stream (the ready event, then heartbeats) and do nothing else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=NO_TIMEOUT)
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self, devices: list[Device]) -> None:
        gate = asyncio.Semaphore(OPENING)
        loop = asyncio.get_running_loop()

        async def one(device: Device) -> None:
            ready: asyncio.Future[None] = loop.create_future()
            async with gate:
                self.tasks.append(asyncio.create_task(self._listen(device, ready)))
                await ready

        await asyncio.gather(*(one(d) for d in devices))

    async def _listen(self, device: Device, ready: asyncio.Future[None]) -> None:
        try:
            async with self.session.get(self.url, headers=device.headers) as response:
                assert response.status == 200, await response.text()
                async for line in response.content:
                    if line.startswith(b"event: ready") and not ready.done():
                        ready.set_result(None)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()


def _rss(pid: int) -> int:
    rss: int = psutil.Process(pid).memory_info().rss
    return rss


async def _settled_rss(pid: int, settle: float) -> int:
    await asyncio.sleep(settle)
    return _rss(pid)


async def _memory_per_client(pid: int, url: str, devices: list[Device], settle: float) -> float:
    clients = IdleClients(url)
    try:
        await clients.connect(devices[:FIRST])
        before = await _settled_rss(pid, settle)
        await clients.connect(devices[FIRST:])
        after = await _settled_rss(pid, settle)
    finally:
        await clients.close()
    return (after - before) / (len(devices) - FIRST)


async def _backends(stack: SyncStack) -> set[int]:
    """PostgreSQL backends of mnwd processes (pools and LISTEN connections), by pid."""
    rows = await stack.pool.fetch("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'mnwd%'")
    return {r["pid"] for r in rows}


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        limit = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))  # servers started below inherit it


async def run(options: Options) -> list[Result]:
    clients = options.size(CLIENTS, 2 * FIRST)
    # --quick: the same steps, without the waits that only make the figures meaningful.
    interval = PUSH_INTERVAL if not options.quick else 0.01
    per_window = int(WINDOW_SECONDS / PUSH_INTERVAL) if not options.quick else 5
    windows = int(HOLD_SECONDS / WINDOW_SECONDS)
    settle = SETTLE_SECONDS if not options.quick else 0.1
    warmup = options.size(20, 2)
    _raise_open_files(2 * clients + 1000)
    async with sync_stack(options, serve_here=False) as stack:
        users = await stack.create_users(clients + 1)
        a, b = await stack.mint_devices([users[0], users[0]])
        idle = await stack.mint_devices(users[1:])

        port = free_port()
        env = {
            "DATABASE_URL": stack.db_url,
            "MNWD_HTTP_PORT": str(port),
            "MNWD_SSH_PORT": str(free_port()),  # the git SSH server's: not the default, maybe in use
            "MNWD_DATA_DIR": str(stack.tmp / "serve"),
            "MNWD_LOG_LEVEL": "warning",
            "MNWD_SHUTDOWN_TIMEOUT": "2",
            # Every idle client comes from 127.0.0.1, as from a reverse proxy: no cap per address.
            "MNWD_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "0",
        }
        stack.base_url = f"http://127.0.0.1:{port}"
        events = f"{stack.base_url}/sync/v1/events"
        ours = await _backends(stack)  # this process's Services, not the daemon's
        async with subprocess_server(mnwd_serve_argv(), env, port, stack.tmp / "serve.log") as (pid, _started):
            async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
                await stack.register(session, a, "phone")
                await stack.register(session, b, "laptop")
            watcher = Watcher(stack.base_url, b)
            await watcher.start()
            try:
                alone = await live_latencies(stack.base_url, a, watcher, per_window, warmup=warmup, interval=interval)
                idle_clients = IdleClients(events)
                try:
                    await idle_clients.connect(idle[:FIRST])
                    pg_before = len(await _backends(stack) - ours)
                    before = await _settled_rss(pid, settle)
                    await idle_clients.connect(idle[FIRST:])
                    after = await _settled_rss(pid, settle)
                    pg_during = len(await _backends(stack) - ours)
                    crowded = [
                        await live_latencies(stack.base_url, a, watcher, per_window, warmup=0, interval=interval)
                        for _ in range(windows)
                    ]
                finally:
                    await idle_clients.close()
                # The machine drifts over minutes: the minute without them is measured before and after.
                alone_after = await live_latencies(stack.base_url, a, watcher, per_window, warmup=0, interval=interval)
            finally:
                await watcher.stop()
        mnwd_per_client = (after - before) / (clients - FIRST)

        bare_port = free_port()
        argv = [sys.executable, "-m", "bench.sync_scale", "bare", str(bare_port)]
        async with subprocess_server(argv, {}, bare_port, stack.tmp / "bare.log") as (bare_pid, _started):
            bare_per_client = await _memory_per_client(
                bare_pid, f"http://127.0.0.1:{bare_port}/sync/v1/events", idle, settle
            )

    kib = 1 / 1024
    us = 1e6
    return [
        Result(
            f"SSE idle clients: RSS per client ({clients:,})",
            "KiB",
            [mnwd_per_client * kib],
            "bare aiohttp SSE",
            [bare_per_client * kib],
        ),
        Result(
            f"live p50 with {clients:,} idle SSE clients, {windows} min",
            "us",
            [percentile([s for w in crowded for s in w], 0.5) * us],
            "live p50 without",
            [percentile(alone, 0.5) * us, percentile(alone_after, 0.5) * us],
        ),
        *(
            Result(
                f"live p99 with {clients:,} idle SSE clients, minute {i + 1}",
                "us",
                [percentile(window, 0.99) * us],
                "live p99 without",
                [percentile(alone, 0.99) * us, percentile(alone_after, 0.99) * us],
                target_max=1.5,
            )
            for i, window in enumerate(crowded)
        ),
        Result(
            f"PostgreSQL connections with {clients:,} SSE",
            "conns",
            [pg_during],
            f"with {FIRST} SSE clients",
            [pg_before],
        ),
    ]


# The bare server: SSE held open by a handler that writes what mnwd's writes, and nothing else.


async def _bare_events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\nevent: ready\ndata: " + orjson.dumps({"seq": 0}) + b"\n\n")
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await response.write(b": heartbeat\n\n")
    return response


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _serve_bare(port: int) -> None:
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/sync/v1/events", _bare_events)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, shutdown_timeout=1.0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        _serve_bare(int(sys.argv[2]))
    else:
        sys.exit("usage: python -m bench.sync_scale bare PORT")
