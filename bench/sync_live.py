"""Live: device A pushes one mutation; device B, listening on ``GET /sync/v1/events``, holds the change: at
once when the poke carries it (a payload of ~200 bytes), or after a pull when it does not (a payload past the
2,000 bytes a poke carries). The time from the start of A's push until B holds it, p50 and p99 per round,
against the same thing done raw: asyncpg calling the same ``sync_push`` function and sending its poke with
``pg_notify`` in the same statement, and a second connection on ``LISTEN`` receiving it. Lower is better.

A third side shows the floor of any server over HTTP here: a bare aiohttp app (`bench.bare_sync`) running the
same statements and writing the same pokes, with no authentication, validation or middleware, reached by the
same clients. mnwd cannot be faster than it; the raw side needs no HTTP at all."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import asyncpg

from bench.bare_sync import BareSync
from bench.fixtures import (
    NO_TIMEOUT,
    Device,
    RawPusher,
    Watcher,
    batches,
    live_latencies,
    percentile,
    raw_devices,
    serve,
    sync_stack,
)
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.sync import queries

BIG = 2500  # bytes of padding: the poke carries the seq alone and B pulls
RAW_CHANNEL = "bench_raw_sync"
RAW_PUSH = f"SELECT pg_notify('{RAW_CHANNEL}', pushed.poke) FROM ({queries.SYNC_PUSH}) AS pushed"


class Percentiles:
    def __init__(self) -> None:
        self.p50: list[float] = []
        self.p99: list[float] = []

    def add(self, seconds: list[float]) -> float:
        self.p50.append(percentile(seconds, 0.5) * 1e6)
        self.p99.append(percentile(seconds, 0.99) * 1e6)
        return self.p50[-1]


async def _raw_latencies(pusher: RawPusher, listener: asyncpg.Connection, count: int, data_bytes: int) -> list[float]:
    heard: asyncio.Queue[float] = asyncio.Queue()

    def on_notify(*_: object) -> None:
        heard.put_nowait(time.perf_counter())

    await listener.add_listener(RAW_CHANNEL, on_notify)
    try:
        seconds = []
        for batch in batches(count, 1, data_bytes=data_bytes):
            arguments = pusher.arguments(pusher.prepare(batch))
            started = time.perf_counter()
            await pusher.conn.fetchval(RAW_PUSH, *arguments)
            seconds.append(await asyncio.wait_for(heard.get(), 10) - started)
        return seconds
    finally:
        await listener.remove_listener(RAW_CHANNEL, on_notify)


async def run(options: Options) -> list[Result]:
    pushes = options.size(200, 10)
    async with sync_stack(options) as stack:
        assert stack.app_id is not None
        # The raw and bare sides write to streams of their own, which B does not watch.
        user, raw_user, bare_user = await stack.create_users(3)
        a, b = await stack.mint_devices([user, user])
        async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
            await stack.register(session, a, "phone")
            await stack.register(session, b, "laptop")
        raw_device, bare_device = await raw_devices(stack, [raw_user, bare_user], "raw")
        pusher_conn = await asyncpg.connect(stack.db_url)
        listener = await asyncpg.connect(stack.db_url)
        bare_conn = await asyncpg.connect(stack.db_url)
        bare_runner, bare_url = await serve(BareSync(bare_conn, stack.app_id, bare_user, bare_device).app())
        bare_pusher = Device(bare_user, "-", str(bare_device))
        watcher = Watcher(stack.base_url, b)
        bare_watcher = Watcher(bare_url, Device(bare_user, "-", str(bare_device)))
        await watcher.start()
        await bare_watcher.start()
        try:
            raw = RawPusher(pusher_conn, stack.app_id, raw_user, raw_device)
            small, big, raw_small, raw_big = Percentiles(), Percentiles(), Percentiles(), Percentiles()
            bare_small, bare_big = Percentiles(), Percentiles()

            async def mnwd_small() -> float:
                return small.add(await live_latencies(stack.base_url, a, watcher, pushes, warmup=5))

            async def mnwd_big() -> float:
                return big.add(await live_latencies(stack.base_url, a, watcher, pushes, warmup=5, data_bytes=BIG))

            async def raw_small_side() -> float:
                return raw_small.add(await _raw_latencies(raw, listener, pushes, 0))

            async def raw_big_side() -> float:
                return raw_big.add(await _raw_latencies(raw, listener, pushes, BIG))

            async def bare_small_side() -> float:
                return bare_small.add(await live_latencies(bare_url, bare_pusher, bare_watcher, pushes, warmup=5))

            async def bare_big_side() -> float:
                latencies = await live_latencies(bare_url, bare_pusher, bare_watcher, pushes, warmup=5, data_bytes=BIG)
                return bare_big.add(latencies)

            await alternate(
                options, [mnwd_small, raw_small_side, bare_small_side, mnwd_big, raw_big_side, bare_big_side]
            )
        finally:
            await watcher.stop()
            await bare_watcher.stop()
            await bare_runner.cleanup()
            for conn in (pusher_conn, listener, bare_conn):
                await conn.close()
    raw_name = "raw sync_push + NOTIFY, LISTEN"
    bare_name = "bare aiohttp, same SQL (floor)"
    pull_after = f"live, pull after poke ({BIG:,} B)"
    return [
        Result("live, poke carries the change, p50", "us", small.p50, raw_name, raw_small.p50, target_max=1.5),
        Result("live, poke carries the change, p50", "us", small.p50, bare_name, bare_small.p50),
        Result("live, poke carries the change, p99", "us", small.p99, raw_name, raw_small.p99, target_max=2.0),
        Result("live, poke carries the change, p99", "us", small.p99, bare_name, bare_small.p99),
        Result(f"{pull_after}, p50", "us", big.p50, raw_name, raw_big.p50, target_max=3.0),
        Result(f"{pull_after}, p50", "us", big.p50, bare_name, bare_big.p50),
        Result(f"{pull_after}, p99", "us", big.p99, raw_name, raw_big.p99),
        Result(f"{pull_after}, p99", "us", big.p99, bare_name, bare_big.p99),
    ]
