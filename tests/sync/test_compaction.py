"""Compaction of the sync log: newest change per row kept, old tombstones dropped behind a horizon.

A device is modelled as the protocol defines it: it applies changes with ``seq > cursor`` in ``seq`` order,
each change carrying the whole row, and keeps the last ``seq`` as its cursor.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.maintenance import is_due
from mnwd.services import Services
from mnwd.sync.compaction import CompactionReport, compact
from mnwd.sync.domain import compact_sync_log
from mnwd.sync.settings import SyncSettings
from mnwd.sync.streams import stream_lock_key
from tests.support.accounts import MakeUser
from tests.support.browser import Browser
from tests.support.daemon import daemon_env, mnwd
from tests.support.oauth import RegisteredApp, register_app
from tests.sync.streams import SyncApi
from tests.sync.tokens import sync_token

DAYS = 30
OLD = 40  # days: beyond the retention window
YOUNG = 1


@dataclass(frozen=True)
class Stream:
    app_id: uuid.UUID
    user_id: uuid.UUID


@dataclass
class Device:
    """What a client holds: the rows it has applied and its cursor."""

    cursor: int = 0
    rows: dict[tuple[str, str], Any] = field(default_factory=dict)

    async def pull(self, pool: asyncpg.Pool, stream: Stream) -> None:
        changes = await pool.fetch(
            """
            SELECT seq, table_name, row_id, operation, data FROM sync_log
            WHERE app_id = $1 AND user_id = $2 AND seq > $3 ORDER BY seq
            """,
            stream.app_id,
            stream.user_id,
            self.cursor,
        )
        for change in changes:
            key = (change["table_name"], change["row_id"])
            if change["operation"] == "DELETE":
                self.rows.pop(key, None)
            else:
                self.rows[key] = change["data"]
            self.cursor = change["seq"]


@pytest.fixture
async def notes(notes_app: RegisteredApp, make_user: MakeUser) -> Stream:
    alice = await make_user("alice")
    return Stream(notes_app.id, alice["id"])


async def log(
    pool: asyncpg.Pool | asyncpg.Connection,
    stream: Stream,
    row_id: str,
    op: str,
    *,
    age_days: float = YOUNG,
    table: str = "notes",
) -> int:
    """Append a change as a push would (without the device bookkeeping); its seq."""
    data = None if op == "DELETE" else {"row": row_id, "n": random.random()}
    seq: int = await pool.fetchval(
        """
        INSERT INTO sync_log (app_id, user_id, table_name, operation, row_id, data, server_time)
        VALUES ($1, $2, $3, $4, $5, $6, now() - make_interval(secs => $7 * 86400))
        RETURNING seq
        """,
        stream.app_id,
        stream.user_id,
        table,
        op,
        row_id,
        data,
        age_days,
    )
    return seq


async def remaining(pool: asyncpg.Pool, stream: Stream) -> list[int]:
    rows = await pool.fetch(
        "SELECT seq FROM sync_log WHERE app_id = $1 AND user_id = $2 ORDER BY seq", stream.app_id, stream.user_id
    )
    return [r["seq"] for r in rows]


async def horizon(pool: asyncpg.Pool, stream: Stream) -> int | None:
    value: int | None = await pool.fetchval(
        "SELECT horizon_seq FROM sync_horizons WHERE app_id = $1 AND user_id = $2", stream.app_id, stream.user_id
    )
    return value


async def test_superseded_changes_go_and_the_newest_of_each_row_stays(pool: asyncpg.Pool, notes: Stream) -> None:
    a1 = await log(pool, notes, "a", "INSERT", age_days=OLD)
    b1 = await log(pool, notes, "b", "INSERT")
    a2 = await log(pool, notes, "a", "UPDATE", age_days=OLD)
    same_id_other_table = await log(pool, notes, "a", "INSERT", table="tags")
    a3 = await log(pool, notes, "a", "UPDATE")
    b2 = await log(pool, notes, "b", "DELETE")  # young: kept
    c1 = await log(pool, notes, "c", "UPDATE", age_days=OLD)  # old but not a DELETE: kept

    report = await compact(pool, tombstone_days=DAYS)

    assert await remaining(pool, notes) == [same_id_other_table, a3, b2, c1]
    assert {a1, a2, b1}.isdisjoint(await remaining(pool, notes))
    assert report == CompactionReport(streams=1, superseded=3, tombstones=0, horizons=0)
    assert await horizon(pool, notes) is None
    assert await compact(pool, tombstone_days=DAYS) == CompactionReport(streams=1)


async def test_a_cursor_below_superseded_changes_needs_no_refetch(pool: asyncpg.Pool, notes: Stream) -> None:
    """Why dropping superseded changes moves no horizon: their rows' newer changes come after any such cursor."""
    await log(pool, notes, "a", "INSERT")
    await log(pool, notes, "b", "INSERT")
    behind = Device()
    await behind.pull(pool, notes)
    for op in ("UPDATE", "UPDATE", "DELETE", "INSERT", "UPDATE"):
        await log(pool, notes, "a", op)
    await log(pool, notes, "b", "UPDATE")
    await log(pool, notes, "c", "INSERT")
    await log(pool, notes, "c", "DELETE")
    midway = Device()
    await midway.pull(pool, notes)
    await log(pool, notes, "b", "UPDATE")
    truth = Device()
    await truth.pull(pool, notes)

    report = await compact(pool, tombstone_days=DAYS)
    assert report.superseded == 8
    assert await horizon(pool, notes) is None

    for device in (behind, midway):
        await device.pull(pool, notes)
        assert device.rows == truth.rows
        assert device.cursor == truth.cursor
    fresh = Device()
    await fresh.pull(pool, notes)
    assert fresh.rows == truth.rows


async def test_old_tombstones_are_dropped_behind_the_horizon(pool: asyncpg.Pool, notes: Stream) -> None:
    """Why a dropped tombstone moves the horizon: a device that had the row would keep it forever."""
    await log(pool, notes, "gone", "INSERT", age_days=OLD + 1)
    await log(pool, notes, "kept", "INSERT", age_days=OLD + 1)
    behind = Device()
    await behind.pull(pool, notes)
    tombstone = await log(pool, notes, "gone", "DELETE", age_days=OLD)
    await log(pool, notes, "back", "INSERT", age_days=OLD)
    resurrected_delete = await log(pool, notes, "back", "DELETE", age_days=OLD)
    caught_up = Device()
    await caught_up.pull(pool, notes)
    await log(pool, notes, "back", "INSERT", age_days=YOUNG)
    young_tombstone_insert = await log(pool, notes, "recent", "INSERT", age_days=YOUNG + 1)
    young_tombstone = await log(pool, notes, "recent", "DELETE", age_days=DAYS - 1)
    truth = Device()
    await truth.pull(pool, notes)

    report = await compact(pool, tombstone_days=DAYS)

    assert report == CompactionReport(streams=1, superseded=4, tombstones=1, horizons=1)
    left = await remaining(pool, notes)
    assert tombstone not in left
    assert resurrected_delete not in left, "superseded by the second INSERT"
    assert young_tombstone in left
    assert young_tombstone_insert not in left
    # The superseded DELETE of "back" had a higher seq, but a newer change of its row still reaches everyone.
    assert await horizon(pool, notes) == tombstone

    assert 0 < behind.cursor < tombstone
    stale = Device(behind.cursor, dict(behind.rows))
    await stale.pull(pool, notes)
    assert ("notes", "gone") in stale.rows, "without the horizon this device would keep a deleted row"
    assert stale.rows != truth.rows
    assert caught_up.cursor >= tombstone
    await caught_up.pull(pool, notes)
    assert caught_up.rows == truth.rows
    refetched = Device()
    await refetched.pull(pool, notes)
    assert refetched.rows == truth.rows


async def test_the_horizon_only_goes_up(pool: asyncpg.Pool, notes: Stream) -> None:
    await log(pool, notes, "a", "DELETE", age_days=OLD)
    await pool.execute(
        "INSERT INTO sync_horizons (app_id, user_id, horizon_seq) VALUES ($1, $2, 1000000)",
        notes.app_id,
        notes.user_id,
    )
    report = await compact(pool, tombstone_days=DAYS)
    assert report.tombstones == 1
    assert await horizon(pool, notes) == 1000000
    assert await remaining(pool, notes) == []
    later = await log(pool, notes, "b", "DELETE", age_days=OLD)
    await pool.execute("UPDATE sync_horizons SET horizon_seq = 0")
    await compact(pool, tombstone_days=DAYS)
    assert await horizon(pool, notes) == later


@pytest.mark.parametrize("batch", [1, 2, 3, 1000])
async def test_batches_of_any_size_compact_the_same(pool: asyncpg.Pool, notes: Stream, batch: int) -> None:
    rng = random.Random(batch)
    newest: dict[str, tuple[int, str, int]] = {}
    for _ in range(60):
        row_id, op, age = rng.choice("abcdefg"), rng.choice(["INSERT", "UPDATE", "DELETE"]), rng.choice([OLD, YOUNG])
        newest[row_id] = (await log(pool, notes, row_id, op, age_days=age), op, age)
    dropped = [seq for seq, op, age in newest.values() if op == "DELETE" and age > DAYS]
    kept = sorted(seq for seq, _, _ in newest.values() if seq not in dropped)

    report = await compact(pool, tombstone_days=DAYS, batch=batch)

    assert await remaining(pool, notes) == kept
    assert report.deleted == 60 - len(kept)
    assert report.tombstones == len(dropped)
    assert await horizon(pool, notes) == (max(dropped) if dropped else None)


async def test_other_streams_are_untouched(pool: asyncpg.Pool, notes: Stream, make_user: MakeUser) -> None:
    bob = Stream(notes.app_id, (await make_user("bob"))["id"])
    diary = Stream((await register_app(pool, notes.user_id, "diary")).id, notes.user_id)
    bob_row = await log(pool, bob, "a", "INSERT", age_days=OLD + 1)
    diary_row = await log(pool, diary, "a", "INSERT", age_days=OLD + 1)
    await log(pool, notes, "a", "INSERT", age_days=OLD + 1)
    alice_delete = await log(pool, notes, "a", "DELETE", age_days=OLD)
    bob_delete = await log(pool, bob, "b", "DELETE", age_days=OLD)
    diary_superseded = await log(pool, diary, "b", "INSERT")
    diary_newest = await log(pool, diary, "b", "UPDATE")

    report = await compact(pool, tombstone_days=DAYS, app_id=notes.app_id)
    assert report == CompactionReport(streams=2, superseded=1, tombstones=2, horizons=2)
    assert await remaining(pool, notes) == []
    assert await remaining(pool, bob) == [bob_row], "Alice's newer change of notes/a is not Bob's"
    assert await horizon(pool, notes) == alice_delete
    assert await horizon(pool, bob) == bob_delete
    assert await remaining(pool, diary) == [diary_row, diary_superseded, diary_newest]
    assert await horizon(pool, diary) is None

    report = await compact(pool, tombstone_days=DAYS)
    assert report == CompactionReport(streams=2, superseded=1)
    assert await remaining(pool, diary) == [diary_row, diary_newest]


async def test_a_push_in_flight_is_waited_for(pool: asyncpg.Pool, notes: Stream) -> None:
    """A push that re-creates a row holds the stream lock; compaction must not judge the row without it.

    Without the lock, compaction would see the old DELETE as the row's newest change (the INSERT is not
    committed yet), drop it as a tombstone and send every device behind it to refetch for nothing.
    """
    delete = await log(pool, notes, "a", "DELETE", age_days=OLD)
    async with pool.acquire() as push, push.transaction():
        await push.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(notes.app_id, notes.user_id))
        reinsert = await log(push, notes, "a", "INSERT")
        compaction = asyncio.create_task(compact(pool, tombstone_days=DAYS))
        await asyncio.sleep(0.3)
        assert not compaction.done(), "compaction ran while the stream's push held its lock"
    report = await compaction
    assert report == CompactionReport(streams=1, superseded=1)
    assert await remaining(pool, notes) == [reinsert]
    assert delete < reinsert
    assert await horizon(pool, notes) is None


async def test_concurrent_pushes_lose_nothing(pool: asyncpg.Pool, notes: Stream) -> None:
    rng = random.Random(7)
    lock = stream_lock_key(notes.app_id, notes.user_id)
    written: list[tuple[int, str]] = []
    for _ in range(200):
        row_id = f"r{rng.randrange(40)}"
        op = rng.choice(["INSERT", "UPDATE", "DELETE"])
        written.append((await log(pool, notes, row_id, op, age_days=OLD), row_id))
    first_pushed = len(written)

    async def pusher() -> None:
        for _ in range(15):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
                for _ in range(3):
                    row_id = f"r{rng.randrange(40)}"
                    op = rng.choice(["INSERT", "UPDATE", "DELETE"])
                    written.append((await log(conn, notes, row_id, op), row_id))
            await asyncio.sleep(0)

    async def compactor() -> None:
        for _ in range(5):
            await compact(pool, tombstone_days=DAYS, batch=7)

    await asyncio.gather(compactor(), *(pusher() for _ in range(4)), compactor())
    await compact(pool, tombstone_days=DAYS)

    pushed = {seq for seq, _ in written[first_pushed:]}
    assert len(pushed) == 4 * 15 * 3
    newest: dict[str, int] = {}
    for seq, row_id in sorted(written):
        newest[row_id] = seq
    left = set(await remaining(pool, notes))
    assert {seq for seq in newest.values() if seq in pushed} <= left, "a pushed row's newest change was lost"
    assert left <= set(newest.values()), "only newest changes remain"
    assert (await horizon(pool, notes) or 0) < min(pushed), "young changes never move the horizon"


async def test_the_command_line_compacts_and_says_what_it_did(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool, notes: Stream
) -> None:
    diary = Stream((await register_app(pool, notes.user_id, "diary")).id, notes.user_id)
    for stream in (notes, diary):
        await log(pool, stream, "a", "INSERT", age_days=OLD + 1)
        await log(pool, stream, "a", "DELETE", age_days=OLD)
        await log(pool, stream, "b", "INSERT")
        await log(pool, stream, "b", "UPDATE")
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_LOG_LEVEL": "warning"})

    one_app = mnwd(env, "sync", "compact", "--app", "diary")
    assert one_app.returncode == 0, one_app.stderr
    assert one_app.stdout == "compacted 1 streams: 3 rows deleted (2 superseded, 1 tombstones), 1 new horizons\n"
    assert len(await remaining(pool, notes)) == 4

    everything = mnwd(env, "sync", "compact")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.startswith("compacted 2 streams: 3 rows deleted")
    assert len(await remaining(pool, notes)) == 1

    longer = mnwd({**env, "MNWD_SYNC_TOMBSTONE_DAYS": "60"}, "sync", "compact")
    assert longer.stdout == "compacted 2 streams: 0 rows deleted (0 superseded, 0 tombstones), 0 new horizons\n"

    unknown = mnwd(env, "sync", "compact", "--app", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "mnwd: There is no app with the slug 'nope'."


async def test_maintenance_compacts_with_the_configured_window(
    services: Services, notes_app: RegisteredApp, make_user: MakeUser
) -> None:
    stream = Stream(notes_app.id, (await make_user("alice"))["id"])
    kept = await log(
        services.pool, stream, "a", "DELETE", age_days=services.config.section(SyncSettings).tombstone_days - 1
    )
    dropped = await log(
        services.pool, stream, "b", "DELETE", age_days=services.config.section(SyncSettings).tombstone_days + 1
    )
    report = await compact_sync_log(services)
    assert report.tombstones == 1
    assert await remaining(services.pool, stream) == [kept]
    assert await horizon(services.pool, stream) == dropped


def test_compaction_runs_at_most_once_per_period() -> None:
    assert is_due(None, 0.0, 3600)
    assert not is_due(100.0, 3699.0, 3600)
    assert is_due(100.0, 3700.0, 3600)


async def test_a_device_behind_a_dropped_tombstone_is_told_to_refetch(
    client: TestClient,  # type: ignore[type-arg]
    alice: Browser,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
) -> None:
    """Through the real push and pull: the stale cursor gets 409 must-refetch, a refetch from 0 works."""
    api = SyncApi(client, await sync_token(client, alice, notes_app))
    await api.register("laptop")
    assert (
        await api.push([api.mutation("a", {"t": 1}, op="INSERT"), api.mutation("b", {"t": 1}, op="INSERT")])
    ).status == 200
    _, behind = await api.pull_all()
    assert (await api.push([api.mutation("a", None, op="DELETE"), api.mutation("b", {"t": 2})])).status == 200
    await pool.execute("UPDATE sync_log SET server_time = now() - interval '40 days' WHERE operation = 'DELETE'")
    _, caught_up = await api.pull_all()

    report = await compact(pool, tombstone_days=DAYS)
    assert (report.superseded, report.tombstones) == (2, 1)

    stale = await api.pull(behind)
    assert stale.status == 409
    problem = await stale.json()
    assert problem["type"] == "https://mnwd.dev/problems/must-refetch"
    assert (await api.pull(caught_up)).status == 200
    changes, _ = await api.pull_all(0)
    assert [(c["row_id"], c["op"], c["data"]) for c in changes] == [("b", "UPDATE", {"t": 2})]


async def test_a_refetch_ends_at_or_above_the_horizon(
    client: TestClient,  # type: ignore[type-arg]
    alice: Browser,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
) -> None:
    """The newest surviving change is below the horizon: the refetch from 0 must not loop into 409s.

    Rows left below the horizon cannot tell a device that pulled them before compaction (and may hold rows
    whose tombstones are gone) from one that refetched after it, so the pull has to hand a refetching device
    a cursor at or above the horizon: ``max(last seq, horizon)`` once nothing below the horizon is left
    unread (all changes at or below the horizon in the first page of a pull from 0, for instance).
    """
    api = SyncApi(client, await sync_token(client, alice, notes_app))
    await api.register("laptop")
    pushed = await api.push([api.mutation("kept", {"t": 1}, op="INSERT"), api.mutation("gone", {"t": 1}, op="INSERT")])
    assert pushed.status == 200
    assert (await api.push([api.mutation("gone", None, op="DELETE")])).status == 200
    await pool.execute("UPDATE sync_log SET server_time = now() - interval '40 days' WHERE operation = 'DELETE'")
    await compact(pool, tombstone_days=DAYS)
    assert await pool.fetchval("SELECT horizon_seq FROM sync_horizons") is not None

    for limit in (1, 1000):
        cursor, pages = 0, 0
        while True:
            response = await api.pull(cursor, limit=limit)
            assert response.status == 200, await response.text()
            body = await response.json()
            cursor, pages = body["cursor"], pages + 1
            if not body["has_more"]:
                break
        assert (await api.pull(cursor)).status == 200, f"refetched with limit={limit}, then told to refetch again"


async def test_compaction_analyzes_a_log_without_statistics_first(pool: asyncpg.Pool, notes: Stream) -> None:
    """Fault: right after a restore or a bulk import sync_log has no statistics, and the planner picked a nested
    loop (34 s per batch, a push held 40 s). Compaction now gives it statistics before it starts."""
    for n in range(50):
        await log(pool, notes, f"r{n % 5}", "UPDATE")
    assert await pool.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'sync_log'::regclass") < 0
    report = await compact(pool, tombstone_days=30)
    assert report.superseded == 45
    assert await pool.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'sync_log'::regclass") >= 0


async def test_a_batch_that_runs_too_long_lets_pushes_through_and_leaves_the_stream(
    pool: asyncpg.Pool, notes: Stream, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: whatever the plan, a compaction batch may hold the stream lock only ``batch_seconds``: one that runs
    out is retried smaller, then the stream waits for the next run; a push is never held behind it for long."""
    for n in range(300):
        await log(pool, notes, f"r{n % 3}", "UPDATE")
    before = await remaining(pool, notes)
    report = await compact(pool, tombstone_days=30, batch=400, batch_seconds=0.000001)
    assert report.deleted == 0
    assert await remaining(pool, notes) == before
    assert "left a stream for the next run" in caplog.text
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(notes.app_id, notes.user_id))
    assert (await compact(pool, tombstone_days=30)).superseded == 297
