"""The HTTP connections of one daemon, guarded against clients that hold them without using them.

`ConnectionGuard` wraps each connection aiohttp serves (`protocol_factory`) and knows when a request on it
starts (`request_middleware` tells it) and when its answer has been sent (aiohttp's access logger hook,
`answer_logger_class`, called after the last byte is written). It promises:

- **A cap per client address**: at most ``max_per_address`` open connections from one IP address (0: no
  cap); one more is closed as soon as it is accepted, before a byte is read, so one host cannot take every
  file descriptor. Behind a reverse proxy every connection comes from the proxy: a peer in
  ``MNWD_TRUSTED_PROXIES`` is not capped (cap clients at the proxy); otherwise raise or lift the cap.
- **A header deadline**: a connection must deliver a request's complete headers within ``header_timeout``
  seconds of opening or of the end of its previous answer, or it is closed (a slowloris sending its headers
  byte by byte, or an idle keep-alive connection).
- **A body idle deadline**: while a request's body is still arriving, ``body_idle_timeout`` seconds without a
  byte close the connection (the handler's read fails as if the client had left). Time during which the
  daemon itself stopped reading (flow control while a handler is busy) does not count.
- **A drain** (`drain`, on SIGTERM): idle connections are closed at once; requests in progress, including
  those whose body is still arriving and those whose headers have begun, are read and answered
  (``Connection: close``); it returns when all are done or at the deadline, whichever comes first.

Deadlines are checked by one watchdog task every `WATCH_INTERVAL` seconds, so a connection is closed up to
that much later than its deadline.

`AcceptErrorLog` is the event loop's exception handler while serving: out of file descriptors (``EMFILE``),
asyncio fails to accept once a second and reports each failure; this logs the first and then one summary
a minute, instead of a traceback a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

__all__ = ["CONNECTIONS", "WATCH_INTERVAL", "AcceptErrorLog", "ConnectionGuard", "ConnectionLimits", "GuardedSite"]

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25
ACCEPT_ERROR_SUMMARY_SECONDS = 60.0


@dataclass(frozen=True)
class ConnectionLimits:
    max_per_address: int
    header_timeout: float
    body_idle_timeout: float
    # Peers never capped (`mnwd.web.client_address.trusts_peer`: the trusted reverse proxies).
    uncapped: Callable[[str], bool] = lambda address: False


@dataclass(eq=False)
class _Connection(asyncio.Protocol):
    """One accepted connection: the aiohttp protocol it wraps, and where its current request stands."""

    guard: ConnectionGuard
    inner: asyncio.Protocol
    transport: asyncio.Transport | None = None
    address: str | None = None
    request: web.BaseRequest | None = None
    # When it began waiting for a request's headers (None while a request is in progress).
    waiting_since: float | None = None
    bytes_waiting: int = 0  # received since the last answer, before a request started
    body_seen: int = -1  # the request body's byte count at the last watch
    body_since: float = 0.0  # since when the body has not grown

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self.guard.admit(self, transport):
            transport.abort()
            return
        self.transport = transport
        self.waiting_since = self.guard.now()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.request is None:
            self.bytes_waiting += len(data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return  # refused at once: aiohttp never saw it
        self.guard.forget(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def close(self) -> None:
        """Close after what is already written has been sent."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def idle(self) -> bool:
        return self.request is None and self.bytes_waiting == 0


@dataclass(eq=False)
class ConnectionGuard:
    limits: ConnectionLimits
    draining: bool = False
    _connections: set[_Connection] = field(default_factory=set)
    _by_transport: dict[asyncio.BaseTransport, _Connection] = field(default_factory=dict)
    _per_address: Counter[str] = field(default_factory=Counter)
    _refused: int = 0
    _watchdog: asyncio.Task[None] | None = None
    _empty: asyncio.Event = field(default_factory=asyncio.Event)

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        """What `loop.create_server` calls for each accepted connection, in place of ``server`` itself."""
        return lambda: _Connection(self, server())

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def admit(self, connection: _Connection, transport: asyncio.Transport) -> bool:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        cap = self.limits.max_per_address
        if self.draining or (cap and self._per_address[address] >= cap and not self.limits.uncapped(address)):
            self._refused += 1
            if self._refused == 1 or self._refused % 1000 == 0:
                log.warning(
                    "connection refused: too many open from one address",
                    extra={"remote": address, "max_per_address": cap, "refused": self._refused},
                )
            return False
        connection.address = address
        self._per_address[address] += 1
        self._connections.add(connection)
        self._by_transport[transport] = connection
        self._empty.clear()
        return True

    def forget(self, connection: _Connection) -> None:
        if connection not in self._connections:
            return
        self._connections.discard(connection)
        if connection.transport is not None:
            self._by_transport.pop(connection.transport, None)
        assert connection.address is not None
        self._per_address[connection.address] -= 1
        if self._per_address[connection.address] <= 0:
            del self._per_address[connection.address]
        if not self._connections:
            self._empty.set()

    # --- from request_middleware ---

    def request_started(self, request: web.BaseRequest) -> None:
        connection = self._by_transport.get(request.transport) if request.transport is not None else None
        if connection is not None:
            connection.request = request
            connection.waiting_since = None
            connection.bytes_waiting = 0
            connection.body_seen = -1

    def answer_logger_class(self) -> type[AbstractAccessLogger]:
        """The ``access_log_class`` to give the runner: aiohttp calls its ``log`` once an answer is sent."""
        guard = self

        class AnswerSent(AbstractAccessLogger):
            def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
                guard.request_finished(request)

            @property
            def enabled(self) -> bool:
                return True

        return AnswerSent

    def request_finished(self, request: web.BaseRequest) -> None:
        connection = self._by_transport.get(request.transport) if request.transport is not None else None
        if connection is not None and connection.request is request:
            connection.request = None
            connection.waiting_since = self.now()

    # --- deadlines ---

    def start(self) -> None:
        self._watchdog = asyncio.create_task(self._watch(), name="http-connection-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            self.check_deadlines()

    def check_deadlines(self) -> None:
        now = self.now()
        for connection in list(self._connections):
            request = connection.request
            if request is None:
                since = connection.waiting_since
                if since is not None and now - since > self.limits.header_timeout:
                    connection.close()
                continue
            body = request.content
            transport = connection.transport
            if body.is_eof() or transport is None or not transport.is_reading():
                connection.body_seen = -1  # not waiting for the client
                continue
            if body.total_bytes != connection.body_seen:
                connection.body_seen, connection.body_since = body.total_bytes, now
            elif now - connection.body_since > self.limits.body_idle_timeout:
                log.info(
                    "request body idle: connection closed",
                    extra={"remote": connection.address, "idle_s": self.limits.body_idle_timeout},
                )
                connection.close()

    # --- SIGTERM ---

    async def drain(self, deadline: float) -> bool:
        """Stop admitting, close idle connections, and wait until the others have had their answers (or
        ``deadline``, loop time). Whether every connection was done in time."""
        self.draining = True
        for connection in list(self._connections):
            if connection.idle:
                connection.close()
        while self._connections:
            for connection in list(self._connections):
                if connection.idle:  # answered since (an answer begun before the drain keeps the connection)
                    connection.close()
            left = deadline - self.now()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, WATCH_INTERVAL)):
                    await self._empty.wait()
        return True


CONNECTIONS: web.AppKey[ConnectionGuard] = web.AppKey("mnwd_connections", ConnectionGuard)


class GuardedSite(web.BaseSite):
    """`web.TCPSite`, with each accepted connection wrapped by ``guard``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port, reuse_address=True, backlog=self._backlog
        )


@dataclass
class AcceptErrorLog:
    """An event-loop exception handler that rate-limits asyncio's "cannot accept" reports (see module)."""

    every: float = ACCEPT_ERROR_SUMMARY_SECONDS
    _since_summary: int = 0
    _last_logged: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if not message.startswith("socket.accept() out of system resource"):
            loop.default_exception_handler(context)
            return
        now = loop.time()
        self._since_summary += 1
        if self._last_logged is not None and now - self._last_logged < self.every:
            return
        error = context.get("exception")
        log.error(
            "cannot accept connections: %s",
            error,
            extra={"failures": self._since_summary, "summary_every_s": self.every},
        )
        self._last_logged = now
        self._since_summary = 0
