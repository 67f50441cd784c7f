"""Several devices editing offline, syncing in random order with lost replies and retries, end in the
server's state; and every mutation is in the log exactly once."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.accounts import MakeUser
from tests.support.oauth import RegisteredApp
from tests.sync.streams import SyncApi, token_for

DEVICES = 3
ROWS = ["a", "b", "c"]

step = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, DEVICES - 1), st.sampled_from(ROWS), st.integers(0, 9) | st.none()),
    st.tuples(st.just("toggle"), st.integers(0, DEVICES - 1)),
    st.tuples(st.just("sync"), st.integers(0, DEVICES - 1), st.booleans()),
)


class Device:
    def __init__(self, api: SyncApi) -> None:
        self.api = api
        self.online = True
        self.pending: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}
        self.cursor = 0

    def edit(self, row: str, value: int | None) -> None:
        if value is None:
            self.pending.append(self.api.mutation(row, None, op="DELETE"))
        else:
            self.pending.append(self.api.mutation(row, {"v": value}))

    async def sync(self, lose_reply: bool) -> None:
        if self.pending:
            response = await self.api.push(self.pending)
            assert response.status == 200, await response.text()
            body = await response.json()
            assert all(r["status"] in ("applied", "duplicate") for r in body["results"])
            if not lose_reply:
                self.pending = []
        changes, self.cursor = await self.api.pull_all(self.cursor, limit=4)
        for change in changes:
            if change["op"] == "DELETE":
                self.state.pop(change["row_id"], None)
            else:
                self.state[change["row_id"]] = change["data"]["v"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=st.lists(step, min_size=1, max_size=25))
async def test_devices_converge_on_the_server_state(
    program: list[tuple[Any, ...]],
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
) -> None:
    username = f"u{uuid.uuid4().hex[:10]}"
    await make_user(username)
    devices = []
    for n in range(DEVICES):
        api = SyncApi(client, await token_for(aiohttp_client, client, username, notes_app))
        await api.register(f"device-{n}")
        devices.append(Device(api))
    for action, index, *args in program:
        device = devices[index]
        if action == "edit":
            device.edit(*args)
        elif action == "toggle":
            device.online = not device.online
        elif device.online:
            await device.sync(lose_reply=args[0])
    for device in devices:
        await device.sync(lose_reply=False)
    for device in devices:
        await device.sync(lose_reply=False)
    server: dict[str, Any] = {}
    truth, _ = await devices[0].api.pull_all(0)
    for change in truth:
        if change["op"] == "DELETE":
            server.pop(change["row_id"], None)
        else:
            server[change["row_id"]] = change["data"]["v"]
    assert all(device.state == server for device in devices)
    rows = await pool.fetch(
        "SELECT device_id, array_agg(mutation_id ORDER BY seq) AS ids FROM sync_log l"
        " JOIN users u ON u.id = l.user_id WHERE u.username = $1 GROUP BY device_id",
        username,
    )
    for row in rows:
        assert row["ids"] == list(range(1, len(row["ids"]) + 1)), "a mutation was lost, repeated or reordered"
    assert sum(len(r["ids"]) for r in rows) == sum(d.api.next_mutation - 1 for d in devices)
