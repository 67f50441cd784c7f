"""The LISTEN bus notices a connection that stalls without closing, and reconnects."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg

from mnwd.db.listen import ListenBus
from mnwd.oauth.bearer_cache import BearerCache


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.states: list[bool] = []

    def on_notify(self, payload: str) -> None:
        self.payloads.append(payload)

    def listening(self, up: bool) -> None:
        self.states.append(up)


async def _until(check: object, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(check())  # type: ignore[operator]


async def test_a_frozen_listen_backend_is_noticed_and_replaced(db_url: str) -> None:
    interval, timeout = 0.2, 0.3
    bus = ListenBus(db_url, probe_interval=interval, probe_timeout=timeout)
    recorder = Recorder()
    cache = BearerCache(60)
    bus.subscribe("test_channel", recorder)
    bus.subscribe("mnwd_bearers", cache)
    await bus.start()
    admin = await asyncpg.connect(db_url)
    stopped: int | None = None
    try:
        assert recorder.states == [True]
        assert cache.enabled
        await asyncio.sleep(interval * 3)
        assert bus.probes_failed == 0, "a healthy connection passes its probes"
        assert recorder.states == [True]

        stopped = bus.backend_pid
        assert stopped is not None
        assert await admin.fetchval("SELECT application_name FROM pg_stat_activity WHERE pid = $1", stopped) == (
            "mnwd-listen"
        )
        generation = cache.generation
        os.kill(stopped, signal.SIGSTOP)
        assert await _until(lambda: False in recorder.states, (interval + timeout) * 3), "the stall is noticed"
        assert bus.probes_failed >= 1
        assert cache.generation > generation, "the bearer cache forgot what it held"
        # The server itself is fine: the bus makes a new connection at once, and trusts it again.
        assert await _until(lambda: recorder.states[-1] is True and bus.backend_pid not in (None, stopped), 5)
        assert recorder.states[:3] == [True, False, True]
        assert cache.enabled
        await admin.execute("SELECT pg_notify('test_channel', 'after')")
        assert await _until(lambda: "after" in recorder.payloads, 2), "the new connection delivers"
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        await admin.close()
        await bus.close()
    # The frozen backend, woken, finds its client gone and exits.
    admin = await asyncpg.connect(db_url)
    try:
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
        for _ in range(100):
            if await admin.fetchval(gone, stopped):
                break
            await asyncio.sleep(0.05)
        assert await admin.fetchval(gone, stopped)
    finally:
        await admin.close()


async def test_the_probe_can_be_turned_off(db_url: str) -> None:
    bus = ListenBus(db_url, probe_interval=0)
    recorder = Recorder()
    bus.subscribe("test_channel", recorder)
    await bus.start()
    try:
        admin = await asyncpg.connect(db_url)
        try:
            await admin.execute("SELECT pg_notify('test_channel', 'x')")
        finally:
            await admin.close()
        assert await _until(lambda: recorder.payloads == ["x"], 2)
        assert bus.probes_failed == 0
    finally:
        await bus.close()


async def test_a_bus_knows_whether_another_daemon_listens(db_url: str) -> None:
    """Counted at connection and at each probe, and told at once by a hello: a sender may skip what only other
    daemons would hear while it is alone, and must not once a second daemon starts."""
    first, second = ListenBus(db_url, probe_interval=0.2), ListenBus(db_url, probe_interval=0.2)
    first.subscribe("test_channel", Recorder())
    second.subscribe("test_channel", Recorder())
    assert not first.alone, "not known before it connects"
    await first.start()
    try:
        assert first.alone
        await second.start()
        try:
            assert not second.alone, "counted the first at connection"
            assert await _until(lambda: not first.alone, 1), "the second's hello reached the first"
            await asyncio.sleep(0.5)  # probes go on counting the second
            assert not first.alone
        finally:
            await second.close()
        assert await _until(lambda: first.alone, 3), "the next probe finds the second gone"
    finally:
        await first.close()
    assert not first.alone
