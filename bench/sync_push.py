"""Push: 100-mutation batches from 20 concurrent clients (20 users, one device each) over HTTP, in
mutations/s, against raw asyncpg ``executemany`` of the same rows into ``sync_log``, one transaction per
batch, on 20 concurrent connections. The two run in alternating rounds on the same cluster."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import aiohttp
import asyncpg
import orjson

from bench.fixtures import JSON_HEADERS, NO_TIMEOUT, Device, SyncStack, payload, sync_stack
from bench.report import Result

CLIENTS = 20
BATCH = 100
BATCHES_PER_ROUND = 8  # per client
ROUNDS = 3
STAMP = "2025-06-01T12:00:00+00:00"

INSERT = """
    INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id, data,
                          client_timestamp)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

Batch = list[tuple[str, str, dict[str, object]]]


def _batches(count: int) -> list[Batch]:
    ops = ("INSERT", "UPDATE")
    return [[(ops[i % 2], str(uuid.uuid4()), payload()) for i in range(BATCH)] for _ in range(count)]


async def _http_round(stack: SyncStack, session: aiohttp.ClientSession, devices: list[Device], batches: int) -> float:
    """Seconds for every client to push ``batches`` batches; bodies are encoded before the clock starts."""
    url = f"{stack.base_url}/sync/v1/push"
    bodies = [[d.push_body(b, STAMP) for b in _batches(batches)] for d in devices]

    async def client(device: Device, mine: list[bytes]) -> None:
        headers = {**device.headers, **JSON_HEADERS}
        for body in mine:
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.read()
                assert response.status == 200, answer

    started = time.perf_counter()
    await asyncio.gather(*(client(d, b) for d, b in zip(devices, bodies, strict=True)))
    return time.perf_counter() - started


class RawClient:
    """The baseline writer: its own device row and connection, the same rows as mnwd would store."""

    def __init__(self, conn: asyncpg.Connection, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
        self.conn = conn
        self.key = (app_id, user_id, device_id)
        self.next_mutation = 1

    def rows(self, batch: Batch) -> list[tuple[object, ...]]:
        stamp = dt.datetime.fromisoformat(STAMP)
        rows = []
        for op, row_id, data in batch:
            rows.append((*self.key, self.next_mutation, "notes", op, row_id, _json(data), stamp))
            self.next_mutation += 1
        return rows

    async def push(self, rows: list[tuple[object, ...]]) -> None:
        async with self.conn.transaction():
            await self.conn.executemany(INSERT, rows)


def _json(data: dict[str, object]) -> str:
    return orjson.dumps(data).decode()


async def _raw_round(clients: list[RawClient], batches: int) -> float:
    prepared = [[c.rows(b) for b in _batches(batches)] for c in clients]

    async def client(raw: RawClient, mine: list[list[tuple[object, ...]]]) -> None:
        for rows in mine:
            await raw.push(rows)

    started = time.perf_counter()
    await asyncio.gather(*(client(c, p) for c, p in zip(clients, prepared, strict=True)))
    return time.perf_counter() - started


async def run() -> list[Result]:
    async with sync_stack() as stack:
        assert stack.app_id is not None
        users = await stack.create_users(CLIENTS)
        devices = await stack.mint_devices(users)
        connector = aiohttp.TCPConnector(limit=CLIENTS)
        async with aiohttp.ClientSession(connector=connector, timeout=NO_TIMEOUT) as session:
            for i, device in enumerate(devices):
                await stack.register(session, device, f"laptop-{i}")
            raw_devices = await stack.pool.fetch(
                """
                INSERT INTO sync_devices (app_id, user_id, device_name)
                SELECT $1, u, 'raw' FROM unnest($2::uuid[]) WITH ORDINALITY AS t(u, i) ORDER BY i
                RETURNING id, user_id
                """,
                stack.app_id,
                users,
            )
            raw_device_of = {r["user_id"]: r["id"] for r in raw_devices}
            conns = [await asyncpg.connect(stack.db_url) for _ in range(CLIENTS)]
            try:
                raw = [RawClient(c, stack.app_id, u, raw_device_of[u]) for c, u in zip(conns, users, strict=True)]
                # Warm-up: every connection (both sides) used once.
                await _raw_round(raw, 1)
                await _http_round(stack, session, devices, 1)
                raw_seconds = http_seconds = 0.0
                for _ in range(ROUNDS):
                    raw_seconds += await _raw_round(raw, BATCHES_PER_ROUND)
                    http_seconds += await _http_round(stack, session, devices, BATCHES_PER_ROUND)
            finally:
                for conn in conns:
                    await conn.close()
        stored = await stack.pool.fetchval("SELECT count(*) FROM sync_log")
        assert stored == 2 * CLIENTS * BATCH * (1 + ROUNDS * BATCHES_PER_ROUND), stored
    mutations = CLIENTS * BATCH * BATCHES_PER_ROUND * ROUNDS
    return [
        Result(
            f"push {BATCH}/batch, {CLIENTS} clients",
            "mut/s",
            mutations / http_seconds,
            "asyncpg executemany",
            mutations / raw_seconds,
            target=0.5,
        )
    ]
