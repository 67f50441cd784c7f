"""The SDK's store and sync engine against the real daemon: convergence, merges, lost replies, rejected
mutations, mutation-gap, must-refetch."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from datetime import timedelta

import pytest
from mnw_synckit import Backoff, Rejected, ServerError, SyncClient
from mnw_synckit.testing import FlakyProxy

from mnwd.sync.compaction import compact
from tests.sdk.conftest import MakeDevice, SdkApp, server_rows

pytestmark = pytest.mark.e2e


async def rows_of(client: SyncClient, table: str = "notes") -> dict[str, dict[str, object]]:
    return {row.row_id: row.data for row in await client.query(table)}


async def test_two_devices_edit_offline_and_converge(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    await laptop.put("notes", "shared", {"title": "draft", "body": "", "tags": []})
    await laptop.sync()
    await phone.sync()
    assert await phone.get("notes", "shared") == {"title": "draft", "body": "", "tags": []}

    # Both offline: each edits its own fields of the shared note, adds notes, one deletes one.
    await laptop.update("notes", "shared", {"title": "Final title"})
    await phone.update("notes", "shared", {"body": "written on the phone"})
    async with laptop.tx() as tx:
        for n in range(20):
            tx.put("notes", f"laptop-{n}", {"n": n})
    async with phone.tx() as tx:
        for n in range(20):
            tx.put("notes", f"phone-{n}", {"n": n})
        tx.delete("notes", "phone-3")
    assert laptop.status.pending == 21
    assert await laptop.get("notes", "shared") == {"title": "Final title", "body": "", "tags": []}

    await laptop.sync()
    await phone.sync()
    await laptop.sync()

    expected = {f"laptop-{n}": {"n": n} for n in range(20)} | {f"phone-{n}": {"n": n} for n in range(20) if n != 3}
    expected["shared"] = {"title": "Final title", "body": "written on the phone", "tags": []}
    assert await rows_of(laptop) == expected
    assert await rows_of(phone) == expected
    assert laptop.status.pending == phone.status.pending == 0
    assert (
        laptop.status.cursor
        == phone.status.cursor
        == max(r["seq"] for r in await server_rows(sdk_app.pool, sdk_app.app))
    )


async def test_server_order_wins_for_whole_rows(make_device: MakeDevice) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    await laptop.put("notes", "n", {"v": "laptop"})
    await phone.put("notes", "n", {"v": "phone"})
    assert await phone.get("notes", "n") == {"v": "phone"}, "local writes win until pushed"
    await laptop.sync()
    await phone.sync()  # phone's push comes after laptop's: it wins
    await laptop.sync()
    assert await laptop.get("notes", "n") == await phone.get("notes", "n") == {"v": "phone"}


async def test_a_lost_push_reply_is_retried_without_duplicates(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await make_device("laptop")  # signs in; the proxied client below uses its store and tokens
    async with FlakyProxy(sdk_app.base_url) as proxy:
        laptop = await make_device("laptop", base_url=proxy.url)
        for n in range(5):
            await laptop.put("notes", f"n{n}", {"n": n})
        proxy.drop_reply("/sync/v1/push")
        await laptop.sync()
        assert proxy.count("POST", "/sync/v1/push") == 2, "the batch is sent again after the lost reply"
    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert [r["mutation_id"] for r in log] == [1, 2, 3, 4, 5]
    assert laptop.status.pending == 0
    assert await rows_of(laptop) == {f"n{n}": {"n": n} for n in range(5)}


async def test_rejected_mutations_go_to_the_inbox(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    rejected: list[Rejected] = []
    laptop = await make_device("laptop", on_rejected=rejected.append)
    await laptop.put("notes", "ok", {"v": 1})
    await laptop.put("Bad Table", "x", {"v": 2})
    await laptop.put("notes", "nul", {"v": "a\x00b"})
    await laptop.put("notes", "after", {"v": 3})
    await laptop.sync()

    assert [(r.mutation_id, r.table, r.row_id) for r in rejected] == [(2, "Bad Table", "x"), (3, "notes", "nul")]
    assert "table must match" in rejected[0].error
    assert [(r.mutation_id, r.error) for r in await laptop.conflicts.inbox()] == [
        (r.mutation_id, r.error) for r in rejected
    ]
    assert await rows_of(laptop) == {"ok": {"v": 1}, "after": {"v": 3}}
    assert await laptop.get("Bad Table", "x") is None, "a rejected write is no longer shown as the row"
    assert [r["mutation_id"] for r in await server_rows(sdk_app.pool, sdk_app.app)] == [1, 4]
    assert await laptop.conflicts.dismiss(2)
    assert [r.mutation_id for r in await laptop.conflicts.inbox()] == [3]


async def test_a_conflict_resolver_decides_what_the_app_sees(make_device: MakeDevice) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    await laptop.put("counters", "c", {"n": 5})
    await laptop.sync()
    await phone.sync()

    def keep_the_larger(server: dict[str, object] | None, local: dict[str, object] | None) -> dict[str, object] | None:
        candidates = [row for row in (server, local) if row is not None]
        return max(candidates, key=lambda row: int(str(row["n"]))) if candidates else None

    phone.conflicts.register("counters", keep_the_larger)
    await phone.put("counters", "c", {"n": 3})
    await laptop.put("counters", "c", {"n": 9})
    await laptop.sync()
    await phone.pull()
    assert await phone.get("counters", "c") == {"n": 9}


async def test_mutation_gap_renumbers_the_outbox(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    """The local counter ran ahead of the server (a store restored from elsewhere): the server answers
    mutation-gap with the id it expects, and the pending writes go under the ids it wants."""
    laptop = await make_device("laptop")
    await laptop.close()
    with sqlite3.connect(sdk_app.tmp / "laptop.db") as db:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_mutation_id', '40')")
    laptop = await make_device("laptop")
    await laptop.put("notes", "a", {"v": 1})
    await laptop.put("notes", "b", {"v": 2})
    await laptop.sync()
    assert [(r["mutation_id"], r["row_id"]) for r in await server_rows(sdk_app.pool, sdk_app.app)] == [
        (1, "a"),
        (2, "b"),
    ]
    await laptop.put("notes", "c", {"v": 3})
    await laptop.sync()
    assert [r["mutation_id"] for r in await server_rows(sdk_app.pool, sdk_app.app)] == [1, 2, 3]


async def test_a_cursor_below_the_horizon_refetches_and_keeps_unsent_changes(
    make_device: MakeDevice, sdk_app: SdkApp
) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    for row in ("keep", "doomed", "other"):
        await laptop.put("notes", row, {"row": row})
    await laptop.sync()
    await phone.sync()
    assert set(await rows_of(phone)) == {"keep", "doomed", "other"}

    await laptop.delete("notes", "doomed")
    await laptop.update("notes", "keep", {"edited": True})
    await laptop.sync()
    await sdk_app.pool.execute(
        "UPDATE sync_log SET server_time = server_time - $1::interval WHERE operation = 'DELETE'", timedelta(days=40)
    )
    report = await compact(sdk_app.pool, tombstone_days=30)
    assert report.tombstones == 1

    await phone.put("notes", "offline", {"written": "while away"})
    await phone.update("notes", "other", {"phone": True})
    await phone.pull()  # must-refetch: the server rows are pulled again from 0, the outbox stays
    refetched = {
        "keep": {"row": "keep", "edited": True},
        "other": {"row": "other", "phone": True},
        "offline": {"written": "while away"},
    }
    assert await rows_of(phone) == refetched
    assert phone.status.pending == 2
    await phone.sync()

    assert await rows_of(phone) == {
        "keep": {"row": "keep", "edited": True},
        "other": {"row": "other", "phone": True},
        "offline": {"written": "while away"},
    }
    await laptop.sync()
    assert await rows_of(laptop) == await rows_of(phone)
    mutation_ids = Counter((r["device_id"], r["mutation_id"]) for r in await server_rows(sdk_app.pool, sdk_app.app))
    assert max(mutation_ids.values()) == 1


async def test_busy_answers_are_retried_after_retry_after(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("laptop")).close()
    async with FlakyProxy(sdk_app.base_url) as proxy:
        laptop = await make_device("laptop", base_url=proxy.url, backoff=Backoff(attempts=4, base=0.01, cap=5))
        await laptop.put("notes", "n", {"v": 1})
        proxy.fail_next("/sync/v1/push", 429, retry_after=1)
        proxy.fail_next("/sync/v1/push", 503, retry_after=1)
        started = time.monotonic()
        await laptop.push()
        assert time.monotonic() - started >= 2.0, "each Retry-After was waited out"
        assert proxy.count("POST", "/sync/v1/push") == 3
        assert laptop.status.pending == 0
        assert laptop.status.last_error is None

        await laptop.put("notes", "n", {"v": 2})
        proxy.fail_next("/sync/v1/push", 503, times=4)
        with pytest.raises(ServerError) as raised:
            await laptop.push()
        assert raised.value.status == 503
        assert laptop.status.pending == 1, "a push that never got through stays in the outbox"
        assert laptop.status.last_error is not None
        await laptop.push()
        assert laptop.status.pending == 0
    assert [r["mutation_id"] for r in await server_rows(sdk_app.pool, sdk_app.app)] == [1, 2]


async def test_a_revoked_device_stops_syncing(make_device: MakeDevice) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    await phone.api.request("DELETE", f"/sync/v1/devices/{await laptop.device_id()}", ok=(204,))
    await laptop.put("notes", "n", {"v": 1})
    with pytest.raises(ServerError) as raised:
        await laptop.push()
    assert raised.value.status == 401
    assert laptop.status.pending == 1, "the write stays local"
