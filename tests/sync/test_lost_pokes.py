"""Pokes are sent after the push's commit and can be lost (a failed send, a daemon that dies between its
commit and the send, a LISTEN connection that was down); a client that misses one still sees the change
within a bound."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from mnwd.db.listen import MAX_BATCH, ListenBus
from mnwd.services import Services
from mnwd.sync import queries
from mnwd.sync.notifier import NOTIFIER, ChangeNotifier, poke_prefix
from mnwd.sync.streams import stream_lock_key
from tests.sync.streams import SyncApi

pytestmark = pytest.mark.usefixtures("notes_app")


async def _push_without_poke(pool: asyncpg.Pool, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> int:
    """A push committed as a daemon commits it, whose poke is never sent: the daemon died right after."""
    first = await pool.fetchval("SELECT last_mutation_id + 1 FROM sync_devices WHERE id = $1", device_id)
    written = await queries.push_changes(
        pool,
        (app_id, user_id, device_id, stream_lock_key(app_id, user_id)),
        (first, first),
        ([first], ["notes"], ["UPDATE"], ["lost"], [orjson.dumps({"n": first}).decode()], [None]),
        (poke_prefix(app_id, user_id), True, 2000),
    )
    assert written["poke"] is not None
    seq: int = written["seqs"][0]
    return seq


async def _stream_of(pool: asyncpg.Pool, api: SyncApi) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    device_id = uuid.UUID(api.device_id)
    app_id, user_id = await pool.fetchrow("SELECT app_id, user_id FROM sync_devices WHERE id = $1", device_id)
    return app_id, user_id, device_id


async def _next_poke(stream: Any, seconds: float) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), seconds)
        if event.startswith(b"event: poke"):
            data: dict[str, Any] = orjson.loads(event.split(b"data: ", 1)[1])
            return data


async def test_an_event_stream_hears_of_a_push_whose_poke_was_never_sent(
    alice_api: SyncApi, pool: asyncpg.Pool, services: Services
) -> None:
    """A daemon commits a push and dies before its poke goes out: another daemon's event stream is told by
    the periodic re-check of stream heads (run here at once instead of waiting `RECHECK_SECONDS`)."""
    stream = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    assert b"event: ready" in await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
    seq = await _push_without_poke(pool, *await _stream_of(pool, alice_api))
    with pytest.raises(TimeoutError):
        await _next_poke(stream, 0.5)
    await services[NOTIFIER].recheck()
    assert (await _next_poke(stream, 5))["seq"] == seq
    stream.close()


async def test_a_killed_listen_connection_loses_no_poke(
    alice_api: SyncApi, pool: asyncpg.Pool, services: Services
) -> None:
    """The LISTEN connection (which sends and hears pokes) is killed as a push commits: the send fails or
    waits, the bus reconnects, and the stream gets the change within a few seconds (the poke retried on the
    new connection, or the re-check of heads that follows the trouble)."""
    stream = await alice_api.client.get("/sync/v1/events", headers=alice_api.headers)
    assert b"event: ready" in await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
    listen_pid = services.listen.backend_pid
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", listen_pid)
    started = time.monotonic()
    pushed = await alice_api.push([alice_api.mutation("r", {"text": "hello"})])
    assert pushed.status == 200
    seq = (await pushed.json())["cursor"]
    while (await _next_poke(stream, 10))["seq"] < seq:
        pass
    assert time.monotonic() - started < 5
    # The poke may have come at once (delivered here) before the bus reconnected: it does, soon.
    for _ in range(500):
        if services.listen.backend_pid not in (None, listen_pid):
            break
        await asyncio.sleep(0.01)
    assert services.listen.backend_pid not in (None, listen_pid)
    stream.close()


async def test_a_long_poll_hears_of_a_lost_poke_at_the_next_recheck(
    alice_api: SyncApi, pool: asyncpg.Pool, services: Services
) -> None:
    stream = await _stream_of(pool, alice_api)
    cursor = 0
    # On a busy machine the pull may not be waiting yet when the change lands (it then simply answers with
    # it): try again from there, so that what is proven is a waiting pull woken by the recheck.
    for _ in range(5):
        waiting = asyncio.create_task(alice_api.pull(cursor, wait=30))
        await asyncio.sleep(0.3)
        seq = await _push_without_poke(pool, *stream)
        await asyncio.sleep(0.3)
        if not waiting.done():
            break
        cursor = seq
        await waiting
    assert not waiting.done()
    await services[NOTIFIER].recheck()
    body = await (await asyncio.wait_for(waiting, 5)).json()
    assert [c["seq"] for c in body["changes"]] == [seq]


async def test_the_periodic_recheck_pokes_watches_behind_their_stream(alice_api: SyncApi, pool: asyncpg.Pool) -> None:
    """The safety net on its own clock: a watch that missed a poke is poked within one period, with the
    stream's newest seq; a watch already told of it is left alone."""
    app_id, user_id, device_id = await _stream_of(pool, alice_api)
    notifier = ChangeNotifier(read_heads=functools.partial(queries.list_stream_heads, pool))
    rechecks = asyncio.create_task(notifier.run(every=0.2))
    try:
        async with (
            notifier.watch(app_id, user_id, keep_pokes=True) as behind,
            notifier.watch(app_id, user_id, keep_pokes=True) as told,
        ):
            seq = await _push_without_poke(pool, app_id, user_id, device_id)
            told.known(seq)
            started = time.monotonic()
            assert await behind.wait(5)
            assert time.monotonic() - started < 1
            assert behind.take_pokes() == [(seq, None)]
            assert told.take_pokes() == []
    finally:
        rechecks.cancel()


async def test_a_failed_send_is_retried_on_the_new_connection(db_url: str, pool: asyncpg.Pool) -> None:
    """The bus's connection dies under a send: its subscribers hear of the trouble, and the notification
    still goes out once the bus has reconnected."""

    class Heard:
        def __init__(self) -> None:
            self.payloads: asyncio.Queue[str] = asyncio.Queue()
            self.states: list[bool] = []

        def on_notify(self, payload: str) -> None:
            self.payloads.put_nowait(payload)

        def listening(self, up: bool) -> None:
            self.states.append(up)

    heard = Heard()
    bus = ListenBus(db_url, probe_interval=0)
    bus.subscribe("test_channel", heard)
    await bus.start()
    try:
        await pool.execute("SELECT pg_terminate_backend($1)", bus.backend_pid)
        bus.notify("test_channel", "after the kill")
        assert await asyncio.wait_for(heard.payloads.get(), 10) == "after the kill"
        assert heard.states[:3] == [True, False, True]
    finally:
        await bus.close()


async def test_notifications_queued_together_go_out_in_order(db_url: str) -> None:
    class Heard:
        def __init__(self) -> None:
            self.payloads: asyncio.Queue[str] = asyncio.Queue()

        def on_notify(self, payload: str) -> None:
            self.payloads.put_nowait(payload)

        def listening(self, up: bool) -> None:
            pass

    heard = Heard()
    bus = ListenBus(db_url, probe_interval=0)
    bus.subscribe("test_channel", heard)
    await bus.start()
    try:
        queued = [str(i) for i in range(2 * MAX_BATCH + 10)]  # three transactions
        for payload in queued:
            bus.notify("test_channel", payload)
        assert [await asyncio.wait_for(heard.payloads.get(), 5) for _ in queued] == queued
    finally:
        await bus.close()
