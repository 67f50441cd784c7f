"""The daemon that commits a push pokes its own event streams at once, without the NOTIFY round trip, unless
a revocation committed before the push may not have reached it yet (migration 0040, `mnwd.sync.notifier`).

The LISTEN connection is held up here (a slow network, a busy database): what it hears is kept back and handed
over later, in the order it came, as PostgreSQL would deliver it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import orjson
import pytest

from mnwd.db.listen import ListenBus
from mnwd.oauth.bearer_cache import BEARERS
from mnwd.services import Services
from mnwd.sync.notifier import CHANNEL, NOTIFIER
from tests.sync.streams import SyncApi, open_event_stream

pytestmark = pytest.mark.usefixtures("notes_app")

SECRET = "after-revocation"


class HeldListen:
    """Notifications heard on the daemon's LISTEN connection, kept back until `release`."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held: list[tuple[str, str]] = []
        self._deliver = services.listen.deliver_here
        monkeypatch.setattr(services.listen, "deliver_here", self._hold)

    def _hold(self, channel: str, payload: str = "") -> None:
        self.held.append((channel, payload))

    def release(self) -> None:
        held, self.held = self.held, []
        for channel, payload in held:
            self._deliver(channel, payload)


@pytest.fixture
async def held(alice_phone: SyncApi, services: Services, monkeypatch: pytest.MonkeyPatch) -> HeldListen:
    """Held from the moment this daemon has heard of every change to access made so far (the devices bound
    while alice's laptop and phone were set up): later pushes are then delivered here at once."""
    current = await services.pool.fetchval("SELECT epoch FROM bearer_epoch")
    await _until(lambda: (services[BEARERS].epoch or 0) >= current)
    return HeldListen(services, monkeypatch)


async def _until(condition: Callable[[], bool], within: float = 10) -> None:
    """Poll what the daemon holds (set by its LISTEN connection's callbacks, nothing to await)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _bearer_epoch_known(services: Services) -> None:
    await _until(lambda: services[BEARERS].epoch is not None)


async def test_a_push_reaches_this_daemons_stream_without_the_notify_round_trip(
    alice_api: SyncApi, alice_phone: SyncApi, services: Services, held: HeldListen
) -> None:
    await _bearer_epoch_known(services)
    stream = await open_event_stream(alice_api)
    pushed = await alice_phone.push([alice_phone.mutation("n1", {"text": "at once"})])
    assert pushed.status == 200
    event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 2)
    assert event.startswith(b"event: poke")
    poke = orjson.loads(event.split(b"data: ", 1)[1])
    assert poke["changes"][0]["data"] == {"text": "at once"}
    assert services[NOTIFIER].delivered_at_once == 1
    # The same poke comes back through LISTEN later: the stream does not send it twice.
    held.release()
    assert (await alice_phone.push([alice_phone.mutation("n2", {"text": "next"})])).status == 200
    following = orjson.loads((await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 2)).split(b"data: ", 1)[1])
    assert following["changes"][0]["data"] == {"text": "next"}
    assert following["after"] == poke["seq"]
    stream.close()


async def test_a_revocation_not_yet_heard_holds_back_the_local_poke(
    alice_api: SyncApi, alice_phone: SyncApi, services: Services, held: HeldListen, db_url: str
) -> None:
    """Attack: the laptop is revoked through another daemon (here: straight in the database) and the phone
    writes at once through this one, whose LISTEN connection has not yet brought the revocation. Poked at
    once, the laptop's stream would re-check its token against what this daemon remembers (still valid) and
    carry the new row to the revoked device."""
    await _bearer_epoch_known(services)
    stream = await open_event_stream(alice_api)
    other_daemon = await asyncpg.connect(db_url)
    try:
        revoked = await other_daemon.execute(
            "UPDATE sync_devices SET revoked_at = now() WHERE id = $1", alice_api.device_id
        )
        assert revoked == "UPDATE 1"
    finally:
        await other_daemon.close()
    assert (await alice_phone.push([alice_phone.mutation("r", {"text": SECRET})])).status == 200
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 0.5)
    assert services[NOTIFIER].delivered_at_once == 0
    held.release()  # the revocation, then the poke, in commit order
    rest = await asyncio.wait_for(stream.content.read(), 5)
    assert SECRET.encode() not in rest
    assert stream.content.at_eof()


async def test_the_epoch_is_known_at_connection_and_follows_each_change(
    alice_api: SyncApi, services: Services, pool: asyncpg.Pool
) -> None:
    await _bearer_epoch_known(services)
    cache = services[BEARERS]
    # The set-up's own changes (the devices bound) may still be on their way: the epoch catches up with them.
    current = await pool.fetchval("SELECT epoch FROM bearer_epoch")
    await _until(lambda: cache.epoch == current)
    before = cache.epoch
    assert before is not None
    await pool.execute("UPDATE users SET display_name = 'Alice A.' WHERE username = 'alice'")
    await _until(lambda: cache.epoch != before)
    assert cache.epoch == before + 1 == await pool.fetchval("SELECT epoch FROM bearer_epoch")
    # Lost and back: read again by the new connection, which missed a change made while it was down.
    old_pid = services.listen.backend_pid
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", old_pid)
    await pool.execute("UPDATE users SET display_name = 'Alice B.' WHERE username = 'alice'")
    await _until(lambda: services.listen.backend_pid not in (None, old_pid) and cache.epoch is not None)
    assert cache.epoch == before + 2


async def test_a_lone_daemon_pokes_without_notify_until_another_starts(
    alice_api: SyncApi, alice_phone: SyncApi, services: Services, db_url: str
) -> None:
    """One daemon: a poke delivered at once needs no NOTIFY. A second daemon on the same database must hear
    this one's pokes from the moment it has started (its hello)."""
    await _bearer_epoch_known(services)
    await _until(lambda: services.listen.alone)
    stream = await open_event_stream(alice_api)
    notifier = services[NOTIFIER]
    assert (await alice_phone.push([alice_phone.mutation("n1", {"text": "alone"})])).status == 200
    assert b"alone" in await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 2)
    assert notifier.sent == 0
    heard: list[str] = []

    class OtherDaemon:
        def on_notify(self, payload: str) -> None:
            heard.append(payload)

        def listening(self, up: bool) -> None:
            """Nothing to forget."""

    other = ListenBus(db_url, probe_interval=0)
    other.subscribe(CHANNEL, OtherDaemon())
    await other.start()
    try:
        await _until(lambda: not services.listen.alone)
        assert (await alice_phone.push([alice_phone.mutation("n2", {"text": "two daemons"})])).status == 200
        assert b"two daemons" in await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 2)
        await _until(lambda: any("two daemons" in p for p in heard))
        assert notifier.sent == 1
    finally:
        await other.close()
    stream.close()


async def test_a_local_poke_is_written_before_the_pushs_own_answer(
    alice_api: SyncApi, alice_phone: SyncApi, services: Services, held: HeldListen
) -> None:
    """An idle stream is written by the push's own call: its poke is on the wire before the push's answer is
    built, with no task to wake in between."""
    await _bearer_epoch_known(services)
    stream = await open_event_stream(alice_api)
    order: list[str] = []

    async def read_poke() -> bytes:
        event = await stream.content.readuntil(b"\n\n")
        order.append("poke")
        return event

    reading = asyncio.create_task(read_poke())
    await asyncio.sleep(0.05)  # the reader waits on the stream
    pushed = await alice_phone.push([alice_phone.mutation("n1", {"text": "first on the wire"})])
    order.append("answer")
    assert pushed.status == 200
    assert b"first on the wire" in await asyncio.wait_for(reading, 2)
    assert order == ["poke", "answer"]
    stream.close()


async def test_an_http_1_0_stream_gets_its_pokes_unchunked(
    alice_api: SyncApi, alice_phone: SyncApi, services: Services, held: HeldListen
) -> None:
    """HTTP/1.0 has no chunked bodies: such a stream is written by its own task, as plain bytes until close."""
    await _bearer_epoch_known(services)
    server = alice_api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"GET /sync/v1/events HTTP/1.0\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {alice_api.token}\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.0 200")
        assert b"chunked" not in head.lower()
        assert b"event: ready" in await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
        assert (await alice_phone.push([alice_phone.mutation("n1", {"text": "old client"})])).status == 200
        event = await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
        assert event.startswith(b"event: poke\ndata: ")
        assert b"old client" in event
    finally:
        writer.close()
