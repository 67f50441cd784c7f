from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from mnwd.sync.settings import SyncSettings
from tests.support.accounts import MakeUser
from tests.support.oauth import RegisteredApp, register_app
from tests.support.queries import QueryCount, notifications_heard
from tests.sync.streams import SyncApi, token_for

pytestmark = pytest.mark.usefixtures("notes_app")


async def test_register_is_idempotent_by_name_and_lists_devices(alice_api: SyncApi) -> None:
    again = await alice_api.client.post("/sync/v1/devices", json={"device_name": "laptop"}, headers=alice_api.headers)
    assert again.status == 200
    assert (await again.json())["id"] == alice_api.device_id
    listed = await (await alice_api.client.get("/sync/v1/devices", headers=alice_api.headers)).json()
    [device] = listed["devices"]
    assert device["device_name"] == "laptop"
    assert device["platform"] == "linux"
    assert device["current"] is True
    assert device["last_mutation_id"] == 0


async def test_push_then_pull_returns_the_data_exactly(alice_api: SyncApi) -> None:
    sealed = {"ciphertext": "q83vEjRWeJA=", "iv": "AAECAwQFBgcICQoL", "key_version": 3, "nested": {"é": [1, 2.5, None]}}
    response = await alice_api.push(
        [alice_api.mutation("r1", sealed, op="INSERT"), alice_api.mutation("r1", None, op="DELETE")]
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    first, second = (r["seq"] for r in body["results"])
    assert second == first + 1
    assert body["last_mutation_id"] == 2
    assert body["cursor"] == second
    pulled = await (await alice_api.pull(0, device_id=alice_api.device_id)).json()
    assert [(c["op"], c["row_id"], c["data"]) for c in pulled["changes"]] == [
        ("INSERT", "r1", sealed),
        ("DELETE", "r1", None),
    ]
    assert pulled["changes"][0]["device_id"] == alice_api.device_id
    assert pulled["changes"][0]["server_time"].endswith("Z")
    assert pulled["cursor"] == second
    assert pulled["has_more"] is False
    assert pulled["last_mutation_id"] == 2


async def test_a_retried_batch_applies_nothing_twice(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    batch = [alice_api.mutation(f"r{n}", {"n": n}) for n in range(3)]
    await alice_api.push(batch)
    retry = await (await alice_api.push(batch)).json()
    assert [r["status"] for r in retry["results"]] == ["duplicate"] * 3
    overlapping = await (await alice_api.push([*batch[1:], alice_api.mutation("r3", {"n": 3})])).json()
    assert [r["status"] for r in overlapping["results"]] == ["duplicate", "duplicate", "applied"]
    assert await pool.fetchval("SELECT count(*) FROM sync_log") == 4


async def test_a_gap_is_refused(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    alice_api.next_mutation = 5
    response = await alice_api.push([alice_api.mutation("r", {"a": 1})])
    assert response.status == 409
    body = await response.json()
    assert body["type"].endswith("/mutation-gap")
    assert body["expected_mutation_id"] == 1
    assert await pool.fetchval("SELECT count(*) FROM sync_log") == 0


async def test_bad_mutations_are_rejected_one_by_one(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    good = alice_api.mutation("ok", {"fine": True})
    bad_op = {**alice_api.mutation("x", {"a": 1}), "op": "UPSERT"}
    bad_table = {**alice_api.mutation("x", {"a": 1}), "table": "Notes; DROP TABLE"}
    too_big = alice_api.mutation("x", {"blob": "x" * 70_000})
    not_object = alice_api.mutation("x", [1, 2, 3])  # type: ignore[arg-type]
    no_data = alice_api.mutation("x", None, op="INSERT")
    bad_time = {**alice_api.mutation("x", {"a": 1}), "client_timestamp": "yesterday"}
    also_good = alice_api.mutation("ok2", {"fine": True})
    body = await (
        await alice_api.push([good, bad_op, bad_table, too_big, not_object, no_data, bad_time, also_good])
    ).json()
    statuses = [(r["status"], r.get("error", "")) for r in body["results"]]
    assert statuses[0][0] == "applied"
    assert statuses[-1][0] == "applied"
    assert [s for s, _ in statuses[1:-1]] == ["rejected"] * 6
    assert "op must be" in statuses[1][1]
    assert "table must match" in statuses[2][1]
    assert "larger than 65536 bytes" in statuses[3][1]
    assert "JSON object" in statuses[4][1]
    assert "data is required" in statuses[5][1]
    assert "RFC 3339" in statuses[6][1]
    assert body["last_mutation_id"] == 8
    assert await pool.fetchval("SELECT array_agg(row_id ORDER BY seq) FROM sync_log") == ["ok", "ok2"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"device_id": "x", "mutations": []}', 422),
        (b"{not json", 400),
        (b"", 400),
        (b'{"device_id": "00000000-0000-0000-0000-000000000000", "mutations": []}', 422),
    ],
)
async def test_malformed_pushes(alice_api: SyncApi, body: bytes, status: int) -> None:
    response = await alice_api.client.post(
        "/sync/v1/push", data=body, headers={**alice_api.headers, "Content-Type": "application/json"}
    )
    assert response.status == status
    assert response.content_type == "application/problem+json"


async def test_batch_limits(alice_api: SyncApi, services: Any) -> None:
    too_many = [alice_api.mutation(f"r{n}", {"n": n}) for n in range(1001)]
    response = await alice_api.push(too_many)
    assert response.status == 413
    assert (await response.json())["limit"] == 1000
    alice_api.next_mutation = 1
    huge = [alice_api.mutation(f"r{n}", {"pad": "x" * 60_000}) for n in range(150)]
    body = orjson.dumps({"device_id": alice_api.device_id, "mutations": huge})
    response = await alice_api.client.post(
        "/sync/v1/push", data=io.BytesIO(body), headers={**alice_api.headers, "Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["limit"] == services.config.section(SyncSettings).max_push_bytes
    alice_api.next_mutation = 1
    skipping = [alice_api.mutation("a", {}), {**alice_api.mutation("b", {}), "mutation_id": 7}]
    assert (await alice_api.push(skipping)).status == 422


async def test_pull_pages_and_excludes_own(
    alice_api: SyncApi,
    client: TestClient,
    aiohttp_client: Any,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(25)])
    phone = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
    await phone.register("phone")
    await phone.push([phone.mutation("p1", {"from": "phone"})])
    page = await (await alice_api.pull(0, limit=10)).json()
    assert len(page["changes"]) == 10
    assert page["has_more"] is True
    changes, cursor = await alice_api.pull_all(0, limit=7)
    assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)
    assert len(changes) == 26
    mine_excluded = await (await alice_api.pull(0, exclude_own=1)).json()
    assert [c["row_id"] for c in mine_excluded["changes"]] == ["p1"]
    assert mine_excluded["cursor"] == cursor


@pytest.mark.parametrize(
    "params",
    [{"cursor": "-1"}, {"limit": "0"}, {"limit": "5000"}, {"wait": "61"}, {"cursor": "abc"}, {"device_id": "nope"}],
)
async def test_bad_pull_parameters(alice_api: SyncApi, params: dict[str, str]) -> None:
    response = await alice_api.client.get("/sync/v1/pull", params=params, headers=alice_api.headers)
    assert response.status == 422
    field = next(iter(params))
    assert (await response.json())["errors"][0]["field"] == field


async def test_long_poll_wakes_on_a_push_and_times_out_otherwise(
    alice_api: SyncApi,
    client: TestClient,
    aiohttp_client: Any,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    started = time.monotonic()
    empty = await (await alice_api.pull(0, wait=0.5)).json()
    assert empty["changes"] == []
    assert time.monotonic() - started >= 0.45
    phone = SyncApi(client, await token_for(aiohttp_client, client, "alice", notes_app))
    await phone.register("phone")
    waiting = asyncio.create_task(alice_api.pull(0, wait=30))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await phone.push([phone.mutation("live", {"hello": 1})])
    body = await (await asyncio.wait_for(waiting, 5)).json()
    assert time.monotonic() - started < 10  # woken by the push, not by its 30 s wait (slack for a busy machine)
    assert [c["row_id"] for c in body["changes"]] == ["live"]


async def _next_poke(response: aiohttp.ClientResponse) -> dict[str, Any]:
    event = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    name, data = event.rstrip(b"\n").split(b"\n")
    assert name == b"event: poke"
    assert data.startswith(b"data: ")
    poke: dict[str, Any] = orjson.loads(data[6:])
    return poke


async def test_events_stream_pokes_carry_small_pushes(alice_api: SyncApi) -> None:
    response = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    ready = await response.content.readuntil(b"\n\n")
    assert ready.endswith(b'event: ready\ndata: {"seq":0}\n\n')
    first = await (await alice_api.push([alice_api.mutation("r", {"a": 1})])).json()
    poke = await _next_poke(response)
    assert (poke["seq"], poke["after"]) == (first["cursor"], 0)
    second = await (
        await alice_api.push([alice_api.mutation("r", {"a": 2}), alice_api.mutation("s", None, op="DELETE")])
    ).json()
    poke = await _next_poke(response)
    assert (poke["seq"], poke["after"]) == (second["cursor"], first["cursor"])
    # The same changes, byte for byte, as a pull from `after` returns.
    pulled = await (await alice_api.pull(first["cursor"])).json()
    assert poke["changes"] == pulled["changes"]
    assert [(c["row_id"], c["op"], c["data"]) for c in poke["changes"]] == [
        ("r", "UPDATE", {"a": 2}),
        ("s", "DELETE", None),
    ]
    response.close()


async def test_line_breaks_in_a_change_do_not_break_the_event_stream(alice_api: SyncApi) -> None:
    response = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    await response.content.readuntil(b"\n\n")
    tricky = {"text": "one\r\n\ntwo\u2028", "event": "data: {}\n\n"}
    await alice_api.push([alice_api.mutation("row\n\nid", tricky)])
    poke = await _next_poke(response)
    assert [(c["row_id"], c["data"]) for c in poke["changes"]] == [("row\n\nid", tricky)]
    response.close()


async def test_a_large_push_pokes_with_the_seq_alone(alice_api: SyncApi) -> None:
    response = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    await response.content.readuntil(b"\n\n")
    pushed = await (await alice_api.push([alice_api.mutation(f"r{i}", {"text": "x" * 300}) for i in range(10)])).json()
    assert await _next_poke(response) == {"seq": pushed["cursor"]}
    response.close()


async def test_after_names_the_compaction_horizon(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    """A client whose cursor is behind a compaction must not take a poke for the whole story."""
    await alice_api.push([alice_api.mutation("r", {"a": 1})])
    await pool.execute(
        "INSERT INTO sync_horizons (app_id, user_id, horizon_seq) SELECT app_id, user_id, 10000 FROM sync_log"
    )
    response = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    await response.content.readuntil(b"\n\n")
    await alice_api.push([alice_api.mutation("r", {"a": 2})])
    assert (await _next_poke(response))["after"] == 10000
    response.close()


async def test_revoking_a_device_refuses_its_token_and_keeps_its_changes(
    alice_api: SyncApi, pool: asyncpg.Pool
) -> None:
    await alice_api.push([alice_api.mutation("r", {"a": 1})])
    response = await alice_api.client.delete(f"/sync/v1/devices/{alice_api.device_id}", headers=alice_api.headers)
    assert response.status == 204
    refused = await alice_api.pull(0)
    assert refused.status == 401
    assert (await refused.json())["detail"] == "The device of this token was revoked."
    assert await pool.fetchval("SELECT count(*) FROM sync_log") == 1


async def test_rename_device(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    response = await alice_api.client.patch(
        f"/sync/v1/devices/{alice_api.device_id}", json={"device_name": "work laptop"}, headers=alice_api.headers
    )
    assert (await response.json())["device_name"] == "work laptop"
    blank = await alice_api.client.patch(
        f"/sync/v1/devices/{alice_api.device_id}", json={"device_name": "  "}, headers=alice_api.headers
    )
    assert blank.status == 422


async def test_must_refetch_below_the_horizon(alice_api: SyncApi, pool: asyncpg.Pool, notes_app: RegisteredApp) -> None:
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(5)])
    user_id = await pool.fetchval("SELECT id FROM users WHERE username = 'alice'")
    newest = await pool.fetchval("SELECT max(seq) FROM sync_log")
    await pool.execute(
        "INSERT INTO sync_horizons (app_id, user_id, horizon_seq) VALUES ($1, $2, $3)",
        notes_app.id,
        user_id,
        newest - 2,
    )
    stale = await alice_api.pull(newest - 4)
    assert stale.status == 409
    body = await stale.json()
    assert body["type"].endswith("/must-refetch")
    assert body["refetch_from"] == 0
    assert (await alice_api.pull(0)).status == 200
    assert (await alice_api.pull(newest - 1)).status == 200


async def test_streams_are_isolated_by_user_and_app(
    alice_api: SyncApi,
    client: TestClient,
    aiohttp_client: Any,
    make_user: MakeUser,
    pool: asyncpg.Pool,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    """Attack: use my own valid token with someone else's device id, and read other streams."""
    await alice_api.push([alice_api.mutation("secret", {"diary": "private"})])
    await make_user("bob")
    bob = SyncApi(client, await token_for(aiohttp_client, client, "bob", notes_app))
    assert (await (await bob.pull(0)).json())["changes"] == []
    bob.device_id = alice_api.device_id
    assert (await bob.push([bob.mutation("x", {"evil": 1})])).status == 404
    assert (await bob.client.delete(f"/sync/v1/devices/{alice_api.device_id}", headers=bob.headers)).status == 404
    assert (
        await bob.client.patch(
            f"/sync/v1/devices/{alice_api.device_id}", json={"device_name": "x"}, headers=bob.headers
        )
    ).status == 404
    assert (await (await bob.client.get("/sync/v1/devices", headers=bob.headers)).json())["devices"] == []
    maker = await pool.fetchval("SELECT id FROM users WHERE username = 'maker'")
    other_app = await register_app(pool, maker, "other")
    alice_other = SyncApi(client, await token_for(aiohttp_client, client, "alice", other_app))
    assert (await (await alice_other.pull(0)).json())["changes"] == []
    alice_other.device_id = alice_api.device_id
    assert (await alice_other.push([alice_other.mutation("x", {})])).status == 404
    assert await pool.fetchval("SELECT count(*) FROM sync_log") == 1


async def test_a_pull_cannot_write_to_another_users_device(
    alice_api: SyncApi,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    pool: asyncpg.Pool,
    notes_app: RegisteredApp,
) -> None:
    """Attack: bob pulls his own compacted stream from cursor 0 naming alice's device, which wrote his horizon
    into her device's ``refetch_horizon``: her every pull from a cursor below her horizon stays
    ``must-refetch`` for as long as bob repeats it."""
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(3)])
    await make_user("bob")
    bob = SyncApi(client, await token_for(aiohttp_client, client, "bob", notes_app))
    await bob.register("desktop")
    bob_id = await pool.fetchval("SELECT id FROM users WHERE username = 'bob'")
    await pool.execute(
        "INSERT INTO sync_horizons (app_id, user_id, horizon_seq) VALUES ($1, $2, 77)", notes_app.id, bob_id
    )
    before = await pool.fetchval("SELECT refetch_horizon FROM sync_devices WHERE id = $1", alice_api.device_id)
    refused = await bob.pull(0, device_id=alice_api.device_id)
    assert refused.status == 404
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert (await refused.json())["type"].endswith("/not-found")
    after = await pool.fetchval("SELECT refetch_horizon FROM sync_devices WHERE id = $1", alice_api.device_id)
    assert after == before
    assert (await bob.pull(0, device_id=bob.device_id)).status == 200
    assert await pool.fetchval("SELECT refetch_horizon FROM sync_devices WHERE id = $1", bob.device_id) == 77


async def test_every_endpoint_needs_a_token(client: TestClient) -> None:  # type: ignore[type-arg]
    for method, path in [
        ("POST", "/sync/v1/devices"),
        ("GET", "/sync/v1/devices"),
        ("POST", "/sync/v1/push"),
        ("GET", "/sync/v1/pull"),
        ("GET", "/sync/v1/events"),
    ]:
        response = await client.request(method, path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_event_stream_ends_when_its_device_is_revoked(
    alice_api: SyncApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnwd.sync import change_routes

    monkeypatch.setattr(change_routes, "HEARTBEAT_SECONDS", 0.2)
    response = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    await response.content.readuntil(b"\n\n")
    assert await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5) == b": heartbeat\n\n"
    await alice_api.client.delete(f"/sync/v1/devices/{alice_api.device_id}", headers=alice_api.headers)
    rest = await asyncio.wait_for(response.content.read(), 5)
    assert rest in (b"", b": heartbeat\n\n")
    assert response.content.at_eof()


@pytest.mark.e2e
async def test_shutdown_does_not_wait_for_idle_event_streams(alice_api: SyncApi, daemon: Any) -> None:
    import signal

    import aiohttp

    async with aiohttp.ClientSession() as http:
        stream = await http.get(f"{daemon.base_url}/sync/v1/events", headers=alice_api.headers)
        assert stream.status == 200
        assert b"event: ready" in await stream.content.readuntil(b"\n\n")
        started = time.monotonic()
        code = await asyncio.to_thread(daemon.stop, signal.SIGTERM)
        assert code == 0
        assert time.monotonic() - started < 5
        assert await asyncio.wait_for(stream.content.read(), 5) == b""


async def test_events_over_a_websocket(alice_api: SyncApi) -> None:
    async with alice_api.client.ws_connect("/sync/v1/events", headers=alice_api.headers) as ws:
        assert await ws.receive_json(timeout=5) == {"type": "ready", "seq": 0}
        pushed = await (await alice_api.push([alice_api.mutation("r", {"a": 1})])).json()
        poke = await ws.receive_json(timeout=5)
        assert (poke["type"], poke["seq"], poke["after"]) == ("poke", pushed["cursor"], 0)
        assert [(c["seq"], c["row_id"], c["data"]) for c in poke["changes"]] == [(pushed["cursor"], "r", {"a": 1})]
        big = await (await alice_api.push([alice_api.mutation(f"r{i}", {"t": "x" * 300}) for i in range(10)])).json()
        assert await ws.receive_json(timeout=5) == {"type": "poke", "seq": big["cursor"]}


async def test_a_websocket_needs_a_token(client: TestClient) -> None:  # type: ignore[type-arg]
    import aiohttp

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/sync/v1/events")
    assert refused.value.status == 401


async def test_a_nul_character_rejects_its_mutation_alone(alice_api: SyncApi) -> None:
    response = await alice_api.push(
        [
            alice_api.mutation("a", {"t": "\u0000"}),
            alice_api.mutation("b\u0000", {"t": "x"}),
            alice_api.mutation("c", {"t": "\\u0000 is text here", "\\\\": 1}),
        ]
    )
    assert response.status == 200
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "applied"]
    assert "NUL" in results[0]["error"]
    assert "NUL" in results[1]["error"]
    pulled = await (await alice_api.pull(0)).json()
    assert [c["data"] for c in pulled["changes"]] == [{"t": "\\u0000 is text here", "\\\\": 1}]


async def test_numbers_that_would_grow_or_overflow_reject_their_mutation_alone(alice_api: SyncApi) -> None:
    """jsonb writes numbers out in full: 1e100000 is 100,001 digits; beyond numeric's range it is an error."""
    numbers = [b"1e1000000", b"-1e-1000000", b"1e" + b"9" * 5000, b"[" + b"1e2000," * 40 + b"1]", b"1.5e3"]
    data = [b'{"x": ' + n + b', "note": "1e999999 in a string is text"}' for n in numbers]
    mutations = b",".join(
        b'{"mutation_id": %d, "table": "t", "op": "INSERT", "row_id": "r%d", "data": %s}' % (i + 1, i, d)
        for i, d in enumerate(data)
    )
    body = b'{"device_id": "%s", "mutations": [%s]}' % (str(alice_api.device_id).encode(), mutations)
    response = await alice_api.client.post(
        "/sync/v1/push", data=body, headers={**alice_api.headers, "Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["rejected"] * 3 + ["rejected", "applied"]
    assert "range" in results[0]["error"]
    assert "exceed" in results[3]["error"]
    pulled = await (await alice_api.pull(0)).json()
    assert [c["data"] for c in pulled["changes"]] == [{"x": 1500, "note": "1e999999 in a string is text"}]


async def test_a_push_is_one_statement_whatever_its_size(
    alice_api: SyncApi, services: Services, query_count: QueryCount
) -> None:
    """The bearer is remembered after the first request: a push is then the one ``sync_push`` call."""
    await notifications_heard(services)  # binding the device to the grant emptied the bearer cache
    await alice_api.push([alice_api.mutation("first", {"n": 0})])
    for size in (1, 10):
        async with query_count() as statements:
            response = await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(size)])
        assert response.status == 200, await response.text()
        assert len(statements) == 1, statements


async def test_a_catch_up_reads_each_page_once(alice_api: SyncApi, services: Services, query_count: QueryCount) -> None:
    """One statement per page: the first page's, and the second's, read ahead while the first travels."""
    await notifications_heard(services)  # binding the device to the grant emptied the bearer cache
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(3)])
    async with query_count() as statements:
        first = await (await alice_api.pull(0, limit=2)).json()
        second = await (await alice_api.pull(first["cursor"], limit=2)).json()
    assert [len(first["changes"]), first["has_more"], len(second["changes"]), second["has_more"]] == [2, True, 1, False]
    assert len(statements) == 2, statements


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_client_timestamp_beyond_postgresql_rejects_its_mutation_alone(alice_api: SyncApi, stamp: str) -> None:
    """A date-time valid as written but outside timestamptz once in UTC used to fail the whole push (500)."""
    good, bad = alice_api.mutation("a", {"v": 1}), alice_api.mutation("b", {"v": 2})
    bad["client_timestamp"] = stamp
    response = await alice_api.push([good, bad])
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert "client_timestamp" in results[1]["error"]


@pytest.mark.parametrize("mutation_id", [2**63, 2**64 - 1, 2**64, 10**30])
async def test_a_mutation_id_beyond_bigint_is_refused(alice_api: SyncApi, mutation_id: int) -> None:
    """mutation_id is a bigint: 2^63 and up used to reach PostgreSQL and fail with a 500."""
    mutation = alice_api.mutation("a", {"v": 1})
    mutation["mutation_id"] = mutation_id
    response = await alice_api.push([mutation])
    assert response.status == 422, await response.text()
    assert response.content_type == "application/problem+json"
    assert (await response.json())["errors"][0]["field"].startswith("mutations[")
