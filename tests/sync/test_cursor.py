"""The cursor never skips a change, even while many devices push at once (DESIGN: "The cursor must never
skip a change")."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from mnwd.sync.settings import SyncSettings
from tests.support.accounts import MakeUser
from tests.support.oauth import RegisteredApp
from tests.sync.streams import SyncApi, token_for

PUSHERS = 8
BATCHES = 20
BATCH_SIZE = 10


@pytest.fixture
async def alice_devices(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    notes_app: RegisteredApp,
    services: Services,
) -> tuple[list[SyncApi], SyncApi]:
    """alice's PUSHERS registered devices, and a reader token of hers. All PUSHERS may wait on her stream at
    once (the daemon's cap on waiting pushes per stream would otherwise answer some with 429)."""
    waiting = dataclasses.replace(services.config.section(SyncSettings), max_waiting_pushes=PUSHERS)
    services.config = services.config.with_section(waiting)
    await make_user("alice")
    devices = []
    for n in range(PUSHERS):
        api = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
        await api.register(f"device-{n}")
        devices.append(api)
    return devices, SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))


async def test_concurrent_pushers_and_a_puller_see_every_seq_exactly_once(
    alice_devices: tuple[list[SyncApi], SyncApi],
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    devices, reader = alice_devices
    done = asyncio.Event()
    seen: list[int] = []

    async def pusher(api: SyncApi, n: int) -> None:
        for batch in range(BATCHES):
            mutations = [api.mutation(f"d{n}-b{batch}-{i}", {"n": i}) for i in range(BATCH_SIZE)]
            response = await api.push(mutations)
            assert response.status == 200, await response.text()
            await asyncio.sleep(0)

    async def puller() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            body = await (await reader.pull(cursor, limit=37)).json()
            seen.extend(c["seq"] for c in body["changes"])
            cursor = body["cursor"]
            if finished and not body["has_more"] and not body["changes"]:
                return

    reading = asyncio.create_task(puller())
    await asyncio.gather(*(pusher(api, n) for n, api in enumerate(devices)))
    done.set()
    await asyncio.wait_for(reading, 60)
    stored = [r["seq"] for r in await pool.fetch("SELECT seq FROM sync_log ORDER BY seq")]
    assert len(stored) == PUSHERS * BATCHES * BATCH_SIZE
    assert seen == stored, "the puller missed or repeated a change"


async def test_a_push_waits_for_an_earlier_open_transaction_of_its_stream(
    client: TestClient,
    aiohttp_client: Any,
    make_user: MakeUser,
    notes_app: RegisteredApp,
    db_url: str,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """Attack on the cursor: seq 10 is taken but not committed, seq 11 commits, a reader sees 11 and moves
    past 10 for ever. The stream lock makes the second push wait until the first commits."""
    from mnwd.sync.streams import stream_lock_key

    await make_user("alice")
    api = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
    await api.register("laptop")
    user_id = await pool.fetchval("SELECT id FROM users WHERE username = 'alice'")
    in_flight = await asyncpg.connect(db_url)
    try:
        transaction = in_flight.transaction()
        await transaction.start()
        await in_flight.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(notes_app.id, user_id))
        early = await in_flight.fetchval(
            "INSERT INTO sync_log (app_id, user_id, table_name, operation, row_id, data)"
            " VALUES ($1, $2, 'notes', 'INSERT', 'early', '{}') RETURNING seq",
            notes_app.id,
            user_id,
        )
        pushing = asyncio.create_task(api.push([api.mutation("late", {"x": 1})]))
        await asyncio.sleep(0.5)
        assert not pushing.done(), "the push did not wait for the stream's open transaction"
        assert (await (await api.pull(0)).json())["changes"] == []
        await transaction.commit()
        late = (await (await asyncio.wait_for(pushing, 5)).json())["results"][0]["seq"]
    finally:
        await in_flight.close()
    assert late > early
    body = await (await api.pull(0)).json()
    assert [c["seq"] for c in body["changes"]] == [early, late]


async def test_a_client_applying_pokes_sees_every_seq_exactly_once(
    alice_devices: tuple[list[SyncApi], SyncApi],
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """The rule of docs/sync.md "Live": apply a poke's changes when its `after` is your cursor, else pull."""
    devices, reader = alice_devices
    events = await client.get("/sync/v1/events", headers=reader.headers)
    assert b"event: ready" in await events.content.readuntil(b"\n\n")
    seen: list[int] = []
    applied = pulled = 0

    async def pusher(api: SyncApi, n: int) -> None:
        for batch in range(BATCHES):
            size = 12 if batch % 5 == 4 else 1 + batch % 4  # every fifth batch is too large to ride in a poke
            response = await api.push([api.mutation(f"d{n}-b{batch}-{i}", {"n": i}) for i in range(size)])
            assert response.status == 200, await response.text()

    async def follow() -> None:
        """Until it holds the change "last", pushed after all others."""
        nonlocal applied, pulled
        cursor = 0
        rows: set[str] = set()
        while "last" not in rows:
            event = await events.content.readuntil(b"\n\n")
            if event.startswith(b":"):  # a heartbeat
                continue
            poke = orjson.loads(event.split(b"data: ", 1)[1])
            if poke.get("after") == cursor:
                changes, cursor = poke["changes"], poke["seq"]
                applied += 1
            elif poke["seq"] > cursor:
                changes, cursor = await reader.pull_all(cursor, limit=50)
                pulled += 1
            else:
                continue
            seen.extend(c["seq"] for c in changes)
            rows.update(c["row_id"] for c in changes)

    following = asyncio.create_task(follow())
    await asyncio.gather(*(pusher(api, n) for n, api in enumerate(devices)))
    assert (await devices[0].push([devices[0].mutation("last", {"n": 0})])).status == 200
    await asyncio.wait_for(following, 60)
    stored = [r["seq"] for r in await pool.fetch("SELECT seq FROM sync_log ORDER BY seq")]
    events.close()
    assert seen == stored, "the client missed or repeated a change"
    assert applied > 0
    assert pulled > 0
