"""Push, over HTTP through mnwd against raw asyncpg on connections of its own, in alternating rounds:

- 100-mutation batches from 20 clients (one user each), in mutations/s, against raw asyncpg calling the same
  ``sync_push`` database function with the same arguments, and against the floor: one ``INSERT … SELECT
  unnest`` statement with the stream lock and the device update;
- single-mutation pushes (the interactive case) from 16 clients (one user each) back to back, in pushes/s
  and per-push latency p50/p99, against raw ``sync_push``;
- contention: 4 devices of one user (``MNWD_SYNC_MAX_WAITING_PUSHES``' default) pushing single mutations to
  the same stream, which serialise on its lock, against raw ``sync_push``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
import asyncpg

from bench.fixtures import (
    NO_TIMEOUT,
    FloorPusher,
    HttpPusher,
    RawPusher,
    SyncStack,
    batches,
    percentile,
    raw_devices,
    sync_stack,
)
from bench.report import Result
from bench.rounds import Options, alternate


class Pusher(Protocol):
    def prepare(self, batch: Any) -> Any: ...

    async def push(self, prepared: Any) -> None: ...


async def _round(pushers: Sequence[Pusher], pushes: int, size: int) -> tuple[float, list[float]]:
    """Every pusher pushes ``pushes`` batches of ``size`` back to back: the seconds, and each push's latency."""
    prepared = [[p.prepare(b) for b in batches(pushes, size)] for p in pushers]
    latencies: list[float] = []

    async def client(pusher: Pusher, mine: list[Any]) -> None:
        for body in mine:
            started = time.perf_counter()
            await pusher.push(body)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(p, m) for p, m in zip(pushers, prepared, strict=True)))
    return time.perf_counter() - started, latencies


class Side:
    """One side of a comparison: its pushers; each round records the rate and the latency percentiles."""

    def __init__(self, pushers: Sequence[Pusher], pushes: int, size: int) -> None:
        self.pushers = pushers
        self.pushes = pushes
        self.size = size
        self.p50: list[float] = []
        self.p99: list[float] = []

    async def __call__(self) -> float:
        seconds, latencies = await _round(self.pushers, self.pushes, self.size)
        self.p50.append(percentile(latencies, 0.5) * 1e6)
        self.p99.append(percentile(latencies, 0.99) * 1e6)
        return len(self.pushers) * self.pushes * self.size / seconds


async def _connections(stack: SyncStack, count: int) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(stack.db_url) for _ in range(count)]


async def _http_pushers(
    stack: SyncStack, session: aiohttp.ClientSession, users: Sequence[Any], name: str
) -> list[HttpPusher]:
    devices = await stack.mint_devices(users)
    for i, device in enumerate(devices):
        await stack.register(session, device, f"{name}-{i}")
    return [HttpPusher(session, stack.base_url, d) for d in devices]


async def _raw_pushers(
    stack: SyncStack, conns: Sequence[asyncpg.Connection], users: Sequence[Any], name: str, kind: type[RawPusher]
) -> list[RawPusher]:
    assert stack.app_id is not None
    ids = await raw_devices(stack, users, name)
    return [kind(c, stack.app_id, u, d) for c, u, d in zip(conns, users, ids, strict=True)]


async def run(options: Options) -> list[Result]:
    clients, batch, batches_per_round = 20, 100, options.size(8, 1)
    singles, single_pushes = 16, options.size(100, 3)
    contenders = 4
    results: list[Result] = []
    async with sync_stack(options) as stack:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=NO_TIMEOUT) as session:
            conns = await _connections(stack, clients)
            try:
                users = await stack.create_users(clients, prefix="batch")
                http = Side(await _http_pushers(stack, session, users, "http"), batches_per_round, batch)
                raw = Side(await _raw_pushers(stack, conns, users, "raw", RawPusher), batches_per_round, batch)
                floor = Side(await _raw_pushers(stack, conns, users, "floor", FloorPusher), batches_per_round, batch)
                for side in (http, raw, floor):  # warm-up: every connection used once
                    await _round(side.pushers, 1, 1)
                rates = await alternate(options, [http, raw, floor])
                name = f"push {batch}/batch, {clients} clients"
                results += [
                    Result(name, "mut/s", rates[0], "raw sync_push", rates[1], target=0.8),
                    Result(name, "mut/s", rates[0], "INSERT unnest floor", rates[2]),
                ]

                users = await stack.create_users(singles, prefix="single")
                http = Side(await _http_pushers(stack, session, users, "http"), single_pushes, 1)
                raw = Side(await _raw_pushers(stack, conns[:singles], users, "raw", RawPusher), single_pushes, 1)
                for side in (http, raw):
                    await _round(side.pushers, 1, 1)
                rates = await alternate(options, [http, raw])
                name = f"single-mutation push, {singles} clients"
                results += [
                    Result(name, "push/s", rates[0], "raw sync_push", rates[1], target=0.5),
                    Result(f"{name}, p50", "us", http.p50, "raw sync_push", raw.p50),
                    Result(f"{name}, p99", "us", http.p99, "raw sync_push", raw.p99),
                ]

                user = (await stack.create_users(1, prefix="shared"))[0]
                same = [user] * contenders
                http = Side(await _http_pushers(stack, session, same, "http"), single_pushes, 1)
                raw = Side(await _raw_pushers(stack, conns[:contenders], same, "raw", RawPusher), single_pushes, 1)
                for side in (http, raw):
                    await _round(side.pushers, 1, 1)
                rates = await alternate(options, [http, raw])
                name = f"one stream, {contenders} devices, single pushes"
                results += [
                    Result(name, "push/s", rates[0], "raw sync_push", rates[1]),
                    Result(f"{name}, p99", "us", http.p99, "raw sync_push", raw.p99),
                ]
            finally:
                for conn in conns:
                    await conn.close()
    return results
