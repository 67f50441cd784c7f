"""The ``sync_push`` database function (mnwd/sync/sql/sync_push.sql) called directly, one test per outcome,
through its keyword wrapper `mnwd.sync.queries.sync_push`, with the rows it leaves behind."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from mnwd.sync import queries
from mnwd.sync.notifier import CHANNEL
from mnwd.sync.streams import stream_lock_key
from tests.db.test_schema_rules import add_app, add_device, add_user

STAMP = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Stream:
    app: uuid.UUID
    user: uuid.UUID
    device: uuid.UUID


@pytest.fixture
async def stream(conn: asyncpg.Connection) -> Stream:
    maker = await add_user(conn, "maker")
    alice = await add_user(conn, "alice")
    app = await add_app(conn, maker)
    return Stream(app, alice, await add_device(conn, app, alice))


@pytest.fixture
async def pokes(db_url: str) -> AsyncIterator[asyncio.Queue[str]]:
    """Payloads of the notifications on the sync channel, from a connection of its own."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db_url)
    await listener.add_listener(CHANNEL, lambda *args: queue.put_nowait(args[3]))
    try:
        yield queue
    finally:
        await listener.close()


def mutation(mutation_id: int, row_id: str = "r1", data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": mutation_id, "table": "notes", "op": "UPDATE", "row_id": row_id, "data": data or {"n": mutation_id}}


async def push(
    conn: asyncpg.Connection,
    stream: Stream,
    first: int,
    last: int,
    valid: list[dict[str, Any]],
    *,
    device: uuid.UUID | None = None,
    poke_changes: bool = True,
    poke_max_bytes: int = 2000,
) -> asyncpg.Record:
    return await queries.sync_push(
        conn,
        app=stream.app,
        user=stream.user,
        device=device or stream.device,
        stream_lock=stream_lock_key(stream.app, stream.user),
        first=first,
        last=last,
        ids=[m["id"] for m in valid],
        tables=[m["table"] for m in valid],
        ops=[m["op"] for m in valid],
        row_ids=[m["row_id"] for m in valid],
        data=[orjson.dumps(m["data"]).decode() for m in valid],
        stamps=[STAMP for _ in valid],
        poke_prefix=f"{stream.app}:{stream.user}:",
        poke_changes=poke_changes,
        poke_max_bytes=poke_max_bytes,
    )


async def log_rows(conn: asyncpg.Connection, stream: Stream) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(
        "SELECT seq, mutation_id, row_id, data, device_id FROM sync_log WHERE app_id = $1 AND user_id = $2 "
        "ORDER BY seq",
        stream.app,
        stream.user,
    )
    return [tuple(r) for r in rows]


async def last_mutation_id(conn: asyncpg.Connection, device: uuid.UUID) -> int:
    value: int = await conn.fetchval("SELECT last_mutation_id FROM sync_devices WHERE id = $1", device)
    return value


def assert_nothing(result: asyncpg.Record, outcome: str, device_last: int | None) -> None:
    assert isinstance(result["bearer_epoch"], int)
    assert {k: v for k, v in result.items() if k != "bearer_epoch"} == {
        "outcome": outcome,
        "device_last": device_last,
        "seqs": None,
        "mutation_ids": None,
        "poke": None,
    }


def poke_json(payload: str) -> Any:
    """The ``{"seq", "after", "changes"}`` after the ``<app>:<user>:<seq>:`` of a poke."""
    return orjson.loads(payload.split(":", 3)[3])


async def test_applied_writes_the_rows_advances_the_device_and_returns_the_poke(
    conn: asyncpg.Connection, stream: Stream
) -> None:
    result = await push(conn, stream, 1, 2, [mutation(1), mutation(2, "r2")])
    assert result["outcome"] == "applied"
    assert result["device_last"] == 0
    assert result["mutation_ids"] == [1, 2]
    seqs = result["seqs"]
    assert len(seqs) == 2
    assert seqs[0] < seqs[1]
    assert await log_rows(conn, stream) == [
        (seqs[0], 1, "r1", {"n": 1}, stream.device),
        (seqs[1], 2, "r2", {"n": 2}, stream.device),
    ]
    assert await last_mutation_id(conn, stream.device) == 2
    assert await conn.fetchval("SELECT last_seen_at IS NOT NULL FROM sync_devices WHERE id = $1", stream.device)
    payload = result["poke"]
    assert payload.startswith(f"{stream.app}:{stream.user}:{seqs[1]}:")
    poke = poke_json(payload)
    assert (poke["seq"], poke["after"]) == (seqs[1], 0)
    assert [(c["seq"], c["row_id"], c["data"], c["client_timestamp"]) for c in poke["changes"]] == [
        (seqs[0], "r1", {"n": 1}, "2024-05-01T12:00:00Z"),
        (seqs[1], "r2", {"n": 2}, "2024-05-01T12:00:00Z"),
    ]


async def test_the_push_sends_no_notification_itself(
    conn: asyncpg.Connection, stream: Stream, pokes: asyncio.Queue[str]
) -> None:
    """A NOTIFY inside the push would hold PostgreSQL's database-wide notify lock through its commit and
    serialise every push: the daemon sends the returned poke after the commit instead."""
    assert (await push(conn, stream, 1, 1, [mutation(1)]))["poke"] is not None
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pokes.get(), 0.3)


async def test_a_poke_too_big_for_its_changes_carries_the_seq_alone(conn: asyncpg.Connection, stream: Stream) -> None:
    await push(conn, stream, 1, 1, [mutation(1)])
    second = await push(conn, stream, 2, 2, [mutation(2)], poke_max_bytes=10)
    assert second["poke"] == f"{stream.app}:{stream.user}:{second['seqs'][0]}"
    third = await push(conn, stream, 3, 3, [mutation(3)], poke_changes=False)
    assert third["poke"] == f"{stream.app}:{stream.user}:{third['seqs'][0]}"


async def test_after_is_the_newest_seq_before_the_push(conn: asyncpg.Connection, stream: Stream) -> None:
    first = await push(conn, stream, 1, 1, [mutation(1)])
    poke = poke_json((await push(conn, stream, 2, 2, [mutation(2)]))["poke"])
    assert poke["after"] == first["seqs"][0]


async def test_no_device_when_the_device_is_unknown_or_another_streams(
    conn: asyncpg.Connection, stream: Stream
) -> None:
    bob = await add_user(conn, "bob")
    bobs = await add_device(conn, stream.app, bob, "bobs-phone")
    for device in (uuid.uuid4(), bobs):
        assert_nothing(await push(conn, stream, 1, 1, [mutation(1)], device=device), "no-device", None)
    assert await log_rows(conn, stream) == []
    assert await last_mutation_id(conn, bobs) == 0


async def test_revoked_device_writes_nothing(conn: asyncpg.Connection, stream: Stream) -> None:
    await conn.execute("UPDATE sync_devices SET revoked_at = now() WHERE id = $1", stream.device)
    assert_nothing(await push(conn, stream, 1, 1, [mutation(1)]), "revoked", 0)
    assert await log_rows(conn, stream) == []
    assert await last_mutation_id(conn, stream.device) == 0


async def test_a_gap_writes_nothing_and_says_where_the_device_is(conn: asyncpg.Connection, stream: Stream) -> None:
    await push(conn, stream, 1, 2, [mutation(1), mutation(2)])
    before = await log_rows(conn, stream)
    assert_nothing(await push(conn, stream, 4, 4, [mutation(4)]), "gap", 2)
    assert await log_rows(conn, stream) == before
    assert await last_mutation_id(conn, stream.device) == 2


async def test_a_batch_of_duplicates_writes_nothing(conn: asyncpg.Connection, stream: Stream) -> None:
    await push(conn, stream, 1, 3, [mutation(1), mutation(2), mutation(3)])
    before = await log_rows(conn, stream)
    for first, last in ((1, 3), (2, 3), (1, 1)):
        valid = [mutation(i, data={"again": i}) for i in range(first, last + 1)]
        assert_nothing(await push(conn, stream, first, last, valid), "applied", 3)
    assert await log_rows(conn, stream) == before
    assert await last_mutation_id(conn, stream.device) == 3


async def test_a_mixed_batch_skips_duplicates_and_writes_the_rest(conn: asyncpg.Connection, stream: Stream) -> None:
    """A retried batch that grew: 1-2 landed before; 3 was rejected by the server (absent from the valid
    columns), 5 too, and it ends at 5, so the device is at 5 although the last row written is 4."""
    await push(conn, stream, 1, 2, [mutation(1), mutation(2)])
    before = await log_rows(conn, stream)
    valid = [mutation(1, data={"dup": 1}), mutation(2, data={"dup": 2}), mutation(4, "r4")]
    result = await push(conn, stream, 1, 5, valid)
    assert result["outcome"] == "applied"
    assert result["device_last"] == 2
    assert result["mutation_ids"] == [4]
    (seq,) = result["seqs"]
    assert await log_rows(conn, stream) == [*before, (seq, 4, "r4", {"n": 4}, stream.device)]
    assert await last_mutation_id(conn, stream.device) == 5
    assert result["poke"].startswith(f"{stream.app}:{stream.user}:{seq}:")


async def test_a_batch_whose_mutations_were_all_rejected_still_advances_the_device(
    conn: asyncpg.Connection, stream: Stream
) -> None:
    assert_nothing(await push(conn, stream, 1, 2, []), "applied", 0)
    assert await log_rows(conn, stream) == []
    assert await last_mutation_id(conn, stream.device) == 2
    # The next batch follows on from there rather than being a gap.
    assert (await push(conn, stream, 3, 3, [mutation(3)]))["mutation_ids"] == [3]


async def test_the_call_names_every_parameter_of_the_function(conn: asyncpg.Connection) -> None:
    """Named notation in mnwd/sync/queries.py: each ``p_x => $n`` names a parameter the function has, and
    every parameter is named once, so a reordered or renamed one fails loudly instead of swapping values."""
    arguments: list[str] = await conn.fetchval(
        "SELECT proargnames[1:pronargs] FROM pg_proc WHERE proname = 'sync_push'"
    )
    named = re.findall(r"(p_[a-z_]+) => \$(\d+)", queries.SYNC_PUSH)
    assert sorted(name for name, _ in named) == sorted(arguments)
    assert sorted(int(n) for _, n in named) == list(range(1, len(arguments) + 1))
