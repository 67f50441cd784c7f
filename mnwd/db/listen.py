"""The daemon's one PostgreSQL ``LISTEN`` connection, shared by every domain, with reconnection.

A domain subscribes a `Subscriber` to a channel (`ListenBus.subscribe`) before `start`; each
notification's payload is handed to it on the event loop. When the connection is lost every subscriber
hears ``listening(False)`` at once (what it holds may now miss a change: caches forget, waiters look at
the database again), and ``listening(True)`` when it is back; nothing sent while it was down is replayed,
so a subscriber must treat reconnection as "anything may have changed".

NOTIFY is delivered on commit only, to every daemon listening, in commit order per sending session.

`ListenBus.notify` sends a notification *after* the caller's commit, from the LISTEN connection, coalesced:
what is queued while one send is on its way goes in the next, one transaction for all of them. A transaction
that sends a NOTIFY holds a database-wide lock through its commit; sent from inside busy write transactions
(a sync push) that lock would serialise them all, here it is taken by one connection, once per batch. The
notification comes back to this daemon's own subscribers through the same connection, after every
notification committed before it (revocations included): local and remote subscribers see one order.
These transactions run with ``synchronous_commit`` off: a notification does not outlive a crash anyway.
Delivery is best effort: a send that fails counts as a lost connection (subscribers hear
``listening(False)`` and look at the database again), its batch is retried once on the new connection, and
a daemon that dies between a commit and the send never sends it, so subscribers must not depend on every
notification arriving (the sync notifier re-checks stream heads).

A subscriber that must know where the notifications it will hear start from registers a query with
`ListenBus.on_connect`: it runs on the LISTEN connection each time that connects, after its ``LISTEN``s, and
its answer is handed over after ``listening(True)``. Whatever it reads was committed either before the
``LISTEN`` or ahead of the answer, whose notifications are delivered first.

The bus knows whether other daemons listen on the same database (`ListenBus.alone`): their LISTEN connections
carry the application name ``mnwd-listen``; they are counted when the connection is made and at each probe,
and a daemon that connects says hello on `HELLO_CHANNEL`, so the others know at once. A sender with nothing
to tell but other daemons (the sync notifier, which pokes its own streams itself) may skip the ``NOTIFY``
while the bus is alone; what a newly started daemon may miss in the instant before its hello arrives is
caught up by its subscribers' own re-checks.

A connection can also stall without closing (a frozen backend, a half-open TCP connection): nothing is
delivered and nothing says so. So every ``probe_interval`` seconds the bus sends itself a ``NOTIFY`` with a
unique payload on a private channel (`PROBE_CHANNEL`), through the LISTEN connection itself, and expects it
back within ``probe_timeout``. If it does not come back the connection counts as lost: subscribers hear
``listening(False)``, the connection is terminated, and the bus reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

__all__ = ["ListenBus", "Subscriber"]

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10.0
PROBE_CHANNEL = "mnwd_listen_probe"
HELLO_CHANNEL = "mnwd_listen_hello"
APPLICATION_NAME = "mnwd-listen"
# The LISTEN connections of other daemons on this database.
PEERS = (
    "SELECT count(*) FROM pg_stat_activity "
    f"WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database() AND pid <> pg_backend_pid()"
)
# Server-side TCP keepalives: the server notices a vanished daemon (ignored on a Unix socket).
KEEPALIVE_SETTINGS = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}
# Notifications waiting to be sent (while the connection is down, say): past this the oldest are dropped.
MAX_OUTBOX = 10_000
# Most notifications sent in one transaction (each at most 8,000 bytes).
MAX_BATCH = 500
# A connection killed under a send can also fail with InternalClientError (mid-way through an error).
SEND_ERRORS = (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
NOTIFY_MANY = "SELECT count(pg_notify(n.channel, n.payload)) FROM unnest($1::text[], $2::text[]) AS n(channel, payload)"


class Subscriber(Protocol):
    def on_notify(self, payload: str) -> None: ...

    def listening(self, up: bool) -> None:
        """The connection came up (True) or was lost (False)."""


class ListenBus:
    def __init__(self, url: str, *, probe_interval: float = 5.0, probe_timeout: float = 5.0) -> None:
        """``probe_interval`` 0 turns the probe off."""
        self._url = url
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._conn: asyncpg.Connection | None = None
        self._started = False
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._probe_waiting: tuple[str, asyncio.Future[None]] | None = None
        self.probes_failed = 0
        # The connection runs one statement at a time: the probe and the sender take turns.
        self._busy = asyncio.Lock()
        self._outbox: list[tuple[str, str, int]] = []  # (channel, payload, failed sends)
        self._on_connect: list[tuple[str, Callable[[Any], None]]] = []
        self._peers: int | None = None  # other daemons' LISTEN connections, None while not known
        self._hellos = 0
        self._sender: asyncio.Task[None] | None = None
        self.sends_failed = 0
        self.notifications_dropped = 0

    @property
    def alone(self) -> bool:
        """Connected, and no other daemon listens on this database (as of the last count or hello)."""
        return not self._closing and self._conn is not None and self._peers == 0

    @property
    def channels(self) -> list[str]:
        return sorted(self._subscribers)

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        if self._started:
            raise RuntimeError("subscribe before the LISTEN connection starts")
        self._subscribers.setdefault(channel, []).append(subscriber)

    def on_connect(self, query: str, receive: Callable[[Any], None]) -> None:
        """At every connection: ``receive(<the first value of query's answer>)``, after ``listening(True)``."""
        if self._started:
            raise RuntimeError("register before the LISTEN connection starts")
        self._on_connect.append((query, receive))

    def deliver_here(self, channel: str, payload: str = "") -> None:
        """Hand ``payload`` to this daemon's subscribers now, as if it had been notified (the others hear
        the real notification at commit)."""
        for subscriber in self._subscribers.get(channel, ()):
            subscriber.on_notify(payload)

    def notify(self, channel: str, payload: str) -> None:
        """Send ``NOTIFY channel, payload`` soon, to every daemon, this one included (call it after the
        commit of what it announces). Notifications from one daemon arrive in the order they were queued."""
        if len(self._outbox) >= MAX_OUTBOX:
            del self._outbox[0]
            self.notifications_dropped += 1
        self._outbox.append((channel, payload, 0))
        self._wake_sender()

    def _wake_sender(self) -> None:
        if (
            self._outbox
            and self._conn is not None
            and not self._closing
            and (self._sender is None or self._sender.done())
        ):
            self._sender = asyncio.get_running_loop().create_task(self._send(self._conn))

    async def _send(self, conn: asyncpg.Connection) -> None:
        """Until the outbox is empty: everything queued so far (up to `MAX_BATCH`) in one transaction."""
        try:
            while self._outbox and self._current(conn):
                batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
                try:
                    async with asyncio.timeout(self._probe_timeout), self._busy:
                        await conn.fetchval(NOTIFY_MANY, [c for c, _, _ in batch], [p for _, p, _ in batch])
                except SEND_ERRORS as exc:
                    if self._closing:
                        return
                    self.sends_failed += 1
                    retried = [(c, p, failed + 1) for c, p, failed in batch if not failed]
                    self.notifications_dropped += len(batch) - len(retried)
                    self._outbox[:0] = retried
                    del self._outbox[:-MAX_OUTBOX]
                    log.warning("could not send notifications; reconnecting", extra={"error": repr(exc)})
                    if conn is self._conn:
                        self._lose(conn)
                    return
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None
            if self._conn is not conn:
                self._wake_sender()  # what is left goes out on the new connection

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL process of the current LISTEN connection (None while there is none)."""
        return None if self._conn is None else self._conn.get_server_pid()

    async def start(self) -> None:
        self._started = True
        self._closing = False
        self._peers = None
        conn = await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME, "synchronous_commit": "off", **KEEPALIVE_SETTINGS},
        )
        try:
            for channel in self._subscribers:
                await conn.add_listener(channel, self._on_notify)
            if self._probe_interval > 0:
                await conn.add_listener(PROBE_CHANNEL, self._on_probe)
            await conn.add_listener(HELLO_CHANNEL, self._on_hello)
            answers = [await conn.fetchval(query) for query, _ in self._on_connect]
            peers = await conn.fetchval(PEERS)
            await conn.execute("SELECT pg_notify($1, $2)", HELLO_CHANNEL, str(conn.get_server_pid()))
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_lost)
        self._conn = conn
        self._peers = max(peers, self._peers or 0)  # a hello heard meanwhile counts
        if self._probe_interval > 0:
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop(conn))
        self._tell_all(True)
        for (_, receive), answer in zip(self._on_connect, answers, strict=True):
            receive(answer)
        self._wake_sender()

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnect, self._probe, self._sender):
            if task is not None:
                task.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    def _tell_all(self, up: bool) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.listening(up)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.deliver_here(channel, payload)

    def _on_hello(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        if payload != str(conn.get_server_pid()):
            self._hellos += 1
            self._peers = max(1, self._peers or 0)

    def _on_probe(self, conn: object, pid: int, channel: str, payload: str) -> None:
        waiting = self._probe_waiting
        if waiting is not None and waiting[0] == payload and not waiting[1].done():
            waiting[1].set_result(None)

    async def _probe_loop(self, conn: asyncpg.Connection) -> None:
        """Until ``conn`` is replaced: a NOTIFY to ourselves, which must come back within the timeout."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._probe_interval)
            if not self._current(conn):
                return
            payload = uuid.uuid4().hex
            hellos = self._hellos
            back: asyncio.Future[None] = loop.create_future()
            self._probe_waiting = (payload, back)
            try:
                async with asyncio.timeout(self._probe_timeout):
                    async with self._busy:
                        peers = await conn.fetchval(f"SELECT ({PEERS}) FROM pg_notify($1, $2)", PROBE_CHANNEL, payload)
                    await back
                self._peers = peers if self._hellos == hellos else max(peers, 1)
            except SEND_ERRORS as exc:
                if self._closing or conn is not self._conn:
                    return
                self.probes_failed += 1
                log.warning("the LISTEN connection did not answer its probe; reconnecting", extra={"error": repr(exc)})
                self._lose(conn)
                return
            finally:
                self._probe_waiting = None

    def _current(self, conn: asyncpg.Connection) -> bool:
        return not self._closing and not conn.is_closed() and conn is self._conn

    def _lose(self, conn: asyncpg.Connection) -> None:
        """Give up on a stalled ``conn``: tell everyone, drop it without waiting for it, reconnect."""
        conn.remove_termination_listener(self._on_lost)
        self._on_lost(conn)
        conn.terminate()

    def _on_lost(self, conn: object) -> None:
        if self._closing or conn is not self._conn:
            return
        log.warning("lost the LISTEN connection; reconnecting")
        self._conn = None
        if self._probe is not None and self._probe is not asyncio.current_task():
            self._probe.cancel()
        self._probe = None
        self._tell_all(False)
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closing:
            try:
                await self.start()
                log.info("LISTEN connection restored")
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(RECONNECT_SECONDS)
