"""Pull: a cold device pulling a stream of 100 000 changes in pages of 1 000 over HTTP (and decoding them),
in changes/s, in alternating rounds against

- raw asyncpg running mnwd's own pull SQL (`mnwd.sync.queries.pull_page`, PostgreSQL writes the JSON) and
  decoding each page's JSON, paged the same way;
- raw asyncpg reading the same rows as records (no JSON at all), paged by seq."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import aiohttp
import asyncpg
import orjson

from bench.fixtures import NO_TIMEOUT, Device, SyncStack, payload, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.sync import queries

PAGE = 1000

# The changes part of mnwd.sync.queries.pull_page, as a plain query.
SELECT = """
    SELECT seq, table_name, operation, row_id, data::text AS data, device_id, client_timestamp, server_time
    FROM sync_log
    WHERE app_id = $1 AND user_id = $2 AND seq > $3
    ORDER BY seq
    LIMIT $4
"""


async def _fill(stack: SyncStack, writer: Device, changes: int) -> None:
    """The stream as device A would have pushed it: ``changes`` changes of ~200-byte ciphertext objects."""
    assert stack.app_id is not None
    assert writer.device_id is not None
    device_id = uuid.UUID(writer.device_id)
    stamp = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    records = [
        (
            stack.app_id,
            writer.user_id,
            device_id,
            i,
            "notes",
            "INSERT" if i % 3 else "UPDATE",
            str(uuid.uuid4()),
            orjson.dumps(payload()).decode(),
            stamp,
        )
        for i in range(1, changes + 1)
    ]
    conn = await asyncpg.connect(stack.db_url)
    try:
        await conn.copy_records_to_table(
            "sync_log",
            records=records,
            columns=[
                "app_id",
                "user_id",
                "device_id",
                "mutation_id",
                "table_name",
                "operation",
                "row_id",
                "data",
                "client_timestamp",
            ],
        )
        await conn.execute("UPDATE sync_devices SET last_mutation_id = $2 WHERE id = $1", device_id, changes)
        await conn.execute("VACUUM ANALYZE sync_log")
    finally:
        await conn.close()


async def _http_pull(session: aiohttp.ClientSession, url: str, reader: Device, changes: int) -> float:
    cursor = 0
    count = 0
    started = time.perf_counter()
    while True:
        async with session.get(
            url, params={"cursor": str(cursor), "limit": str(PAGE)}, headers=reader.headers
        ) as response:
            body = orjson.loads(await response.read())
        count += len(body["changes"])
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    elapsed = time.perf_counter() - started
    assert count == changes, count
    return changes / elapsed


async def _same_sql_pull(
    conn: asyncpg.Connection, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID, changes: int
) -> float:
    cursor = 0
    count = 0
    started = time.perf_counter()
    while True:
        page = await queries.pull_page(conn, app_id, user_id, device_id, cursor, PAGE, None)
        count += len(orjson.loads(b"[" + (page["changes"] or b"") + b"]"))
        cursor = page["last_seq"] or cursor
        if not page["has_more"]:
            break
    elapsed = time.perf_counter() - started
    assert count == changes, count
    return changes / elapsed


async def _raw_pull(conn: asyncpg.Connection, app_id: uuid.UUID, user_id: uuid.UUID, changes: int) -> float:
    cursor = 0
    count = 0
    started = time.perf_counter()
    while True:
        rows = await conn.fetch(SELECT, app_id, user_id, cursor, PAGE)
        count += len(rows)
        if len(rows) < PAGE:
            break
        cursor = rows[-1]["seq"]
    elapsed = time.perf_counter() - started
    assert count == changes, count
    return changes / elapsed


async def run(options: Options) -> list[Result]:
    changes = options.size(100_000, 3 * PAGE + 10)
    async with sync_stack(options) as stack:
        assert stack.app_id is not None
        user = (await stack.create_users(1))[0]
        writer, reader = await stack.mint_devices([user, user])
        async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
            await stack.register(session, writer, "phone")
            await stack.register(session, reader, "new laptop")
            await _fill(stack, writer, changes)
            assert reader.device_id is not None
            reader_id = uuid.UUID(reader.device_id)
            app_id = stack.app_id
            conn = await asyncpg.connect(stack.db_url)
            try:
                url = f"{stack.base_url}/sync/v1/pull"
                sides = [
                    lambda: _http_pull(session, url, reader, changes),
                    lambda: _same_sql_pull(conn, app_id, user, reader_id, changes),
                    lambda: _raw_pull(conn, app_id, user, changes),
                ]
                for side in sides:  # warm-up: the table and index in shared buffers
                    await side()
                http, same_sql, raw = await alternate(options, sides)
            finally:
                await conn.close()
    name = f"pull {changes:,} in pages of {PAGE:,}"
    return [
        Result(name, "changes/s", http, "raw asyncpg, same SQL + decode", same_sql, target=0.8),
        Result(name, "changes/s", http, "raw asyncpg rows", raw, target=0.6),
    ]
