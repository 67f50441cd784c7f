"""One blocked stream cannot starve the daemon: pushes waiting on it are capped, the pool stays free."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.db.pool import create_pool
from mnwd.errors import ServiceUnavailable
from mnwd.oauth import Bearer
from mnwd.sync import changes
from mnwd.sync.notifier import NOTIFIER
from mnwd.sync.settings import SyncSettings
from mnwd.sync.streams import stream_lock_key
from mnwd.web.keys import SERVICES
from tests.support.accounts import MakeUser
from tests.support.oauth import RegisteredApp
from tests.sync.streams import SyncApi, token_for

pytestmark = pytest.mark.usefixtures("notes_app")


async def test_pushes_waiting_on_a_locked_stream_are_capped(
    alice_api: SyncApi,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    notes_app: RegisteredApp,
    conn: asyncpg.Connection,
) -> None:
    await make_user("bob")
    bob = SyncApi(client, await token_for(aiohttp_client, client, "bob", notes_app))
    await bob.register("phone")
    app_id, user_id = await conn.fetchrow(
        "SELECT app_id, user_id FROM sync_devices WHERE id = $1", uuid.UUID(alice_api.device_id)
    )
    batch = [alice_api.mutation("r1", {"n": 1})]  # the same batch each time: one applies, the rest are duplicates
    locked = conn.transaction()
    await locked.start()
    try:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(app_id, user_id))
        pushes = [asyncio.create_task(alice_api.push(batch)) for _ in range(10)]
        for _ in range(200):
            if sum(p.done() for p in pushes) >= 6:
                break
            await asyncio.sleep(0.02)
        early = [p for p in pushes if p.done()]
        turned_away = [p.result() for p in early]
        assert len(turned_away) == 6
        for response in turned_away:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            assert response.content_type == "application/problem+json"
            assert (await response.json())["type"].endswith("/rate-limited")
        assert client.app[SERVICES][changes.WAITING_PUSHES].running((app_id, user_id)) == 4

        started = time.monotonic()
        other = await bob.push([bob.mutation("b1", {"n": 1})])
        assert other.status == 200, await other.text()
        assert time.monotonic() - started < 2, "another stream is not held up"
    finally:
        await locked.rollback()
    waited = [await p for p in pushes if p not in early]
    assert len(waited) == 4
    statuses = [[r["status"] for r in (await response.json())["results"]] for response in waited]
    assert all(response.status == 200 for response in waited)
    assert sorted(statuses) == [["applied"], ["duplicate"], ["duplicate"], ["duplicate"]]
    assert client.app[SERVICES][changes.WAITING_PUSHES].running((app_id, user_id)) == 0


async def test_the_advisory_lock_cannot_be_waited_for_for_ever(alice_api: SyncApi, conn: asyncpg.Connection) -> None:
    """lock_timeout (MNWD_DB_LOCK_TIMEOUT) ends a push still waiting for its stream: 503, retry shortly."""
    services = alice_api.client.app[SERVICES]
    async with services.pool.acquire() as pooled:
        assert await pooled.fetchval("SHOW lock_timeout") == "10s"
        assert await pooled.fetchval("SHOW statement_timeout") == "30s"
    app_id, user_id = await conn.fetchrow(
        "SELECT app_id, user_id FROM sync_devices WHERE id = $1", uuid.UUID(alice_api.device_id)
    )
    short = await create_pool(services.config.database_url or "", min_size=1, max_size=2, lock_timeout=0.3)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", stream_lock_key(app_id, user_id))
            started = time.monotonic()
            body = changes.PushIn(
                device_id=uuid.UUID(alice_api.device_id),
                mutations=[changes.MutationIn(mutation_id=1, table="notes", op="UPDATE", row_id="r")],
            )
            with pytest.raises(ServiceUnavailable) as caught:
                await changes.push(
                    short,
                    services[NOTIFIER],
                    services.config.section(SyncSettings),
                    _alice(app_id, user_id),
                    body,
                    services[changes.WAITING_PUSHES],
                )
            assert time.monotonic() - started < 3
            assert caught.value.headers["Retry-After"] == "1"
        assert services[changes.WAITING_PUSHES].running((app_id, user_id)) == 0
    finally:
        await short.close()


def _alice(app_id: uuid.UUID, user_id: uuid.UUID) -> Bearer:
    return Bearer(
        user_id=user_id,
        username="alice",
        display_name=None,
        app_id=app_id,
        app_name="Notes",
        grant_id=uuid.uuid4(),
        device_id=None,
        scope=frozenset({"sync"}),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
