"""`mnwd serve`: migrate, start the listeners, wait for SIGINT/SIGTERM, drain, close.

Stopping (`shut_down`) keeps within ``MNWD_SHUTDOWN_TIMEOUT``: HTTP stops accepting and drains
(`ConnectionGuard.drain`: requests in progress, bodies still arriving included, are read and answered), while
jobs and the other listeners stop beside it, all against one deadline; what is still running
`CANCEL_GRACE` seconds before the end is cancelled, and its connection closed.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable, Sequence

from aiohttp import web

from mnwd.app import create_app
from mnwd.config import Config
from mnwd.domain import Listener
from mnwd.domains import check_settings, domain_listeners, domain_ports, open_all_services, periodic_tasks
from mnwd.errors import MnwdError
from mnwd.maintenance import run_maintenance
from mnwd.services import Services
from mnwd.web.client_address import trusts_peer
from mnwd.web.connections import CONNECTIONS, AcceptErrorLog, ConnectionGuard, ConnectionLimits, GuardedSite

__all__ = ["ListenError", "Listener", "check_ports", "serve"]

log = logging.getLogger(__name__)

# Of MNWD_SHUTDOWN_TIMEOUT, what is kept back for cancelling what did not finish and closing the rest.
CANCEL_GRACE = 1.0


class ListenError(MnwdError):
    """A listener could not bind its address."""


def site_url(config: Config, port: int) -> str:
    """The address to open in a browser: the public URL, or the default one with the port actually bound."""
    if config.public_url:
        return config.public_url.rstrip("/") + "/"
    return f"{config.base_url.rsplit(':', 1)[0]}:{port}/"


def build_listeners(services: Services) -> list[Listener]:
    """The domains' listeners (`mnwd.domain.Domain.listeners`): git's SSH server."""
    return domain_listeners(services)


def check_ports(config: Config) -> None:
    """Fail at once, before the database is started and migrated, when the HTTP address or a listener's (the
    git SSH server's) cannot be bound (taken by another process, or not an address of this host). Binding for
    real happens later."""
    addresses = [(config.http_host, config.http_port, "MNWD_HTTP_PORT"), *domain_ports(config)]
    for host, port, setting in addresses:
        _check_port(host, port, setting)


def _check_port(host: str, port: int, setting: str) -> None:
    where = f"{host}:{port}"
    host_setting = setting.replace("_PORT", "_HOST")
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror} ({host_setting})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                hint = f" (is another mnwd running? set {setting})" if exc.errno == errno.EADDRINUSE else ""
                raise ListenError(f"cannot listen on {where}: {exc.strerror}{hint}") from None


def http_runner(app: web.Application, config: Config, guard: ConnectionGuard) -> web.AppRunner:
    """The runner of ``app``, its connections watched by ``guard``. aiohttp's own shutdown wait is short: by
    the time it runs, `shut_down` has drained what could finish."""
    app[CONNECTIONS] = guard
    return web.AppRunner(
        app,
        access_log=log,
        access_log_class=guard.answer_logger_class(),
        shutdown_timeout=min(CANCEL_GRACE, config.shutdown_timeout) / 4,
        handle_signals=False,
    )


def connection_limits(config: Config) -> ConnectionLimits:
    return ConnectionLimits(
        max_per_address=config.http_max_connections_per_address,
        header_timeout=config.http_header_timeout,
        body_idle_timeout=config.http_body_idle_timeout,
        uncapped=lambda address: trusts_peer(config, address),
    )


async def shut_down(
    config: Config, services: Services, runner: web.AppRunner, guard: ConnectionGuard, started: Sequence[Listener]
) -> None:
    """Drain HTTP, stop jobs and listeners side by side, then close what is left (see the module docstring)."""
    loop = asyncio.get_running_loop()
    budget = max(config.shutdown_timeout - CANCEL_GRACE, config.shutdown_timeout / 2)
    deadline = loop.time() + budget

    async def drain_http() -> None:
        for site in list(runner.sites):
            await site.stop()
        # Long-lived answers (event streams, long polls) end now rather than at the deadline.
        if runner.server is not None:
            await runner.app.shutdown()
        if not await guard.drain(deadline):
            log.warning(
                "shutdown: requests still running at the deadline are cancelled",
                extra={"connections": guard.open_connections},
            )

    async def stop_listeners() -> None:
        for listener in reversed(started):
            await listener.stop()

    try:
        await asyncio.gather(drain_http(), services.jobs.stop(grace=budget), stop_listeners())
    finally:
        await guard.stop()
        await runner.cleanup()


def _freeze_what_start_up_made() -> None:
    """Modules, routes, templates and settings live as long as the daemon: out of the cyclic collector's
    sight (`gc.freeze`), its full collections scan only what requests and streams make. With 2,000 event
    streams open, full collections over everything paused the loop for 110 to 170 ms several times a minute;
    without what start-up made, 50 to 80 ms. (A larger youngest generation was tried: its own collections
    then took 5 to 30 ms each, worse.)

    Started by ``python -m mnwd``, the collector has been off since the interpreter started (`mnwd.__main__`):
    what start-up left unreachable is then import-time debris (~1,800 objects, ~0.4 MB: class bodies replaced
    by their slotted copies in attrs and dataclasses, closures, two closed sockets), frozen with the rest
    instead of looked for by a full collection over everything (~80 ms of the start). With the collector on
    (`serve` called in a process that was already running), a collection first."""
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.enable()


async def serve(
    config: Config,
    *,
    ready: Callable[[Services, int], None] | None = None,
    stop: asyncio.Event | None = None,
    listeners: Callable[[Services], Sequence[Listener]] = build_listeners,
    app_factory: Callable[[Services], web.Application] = create_app,
) -> None:
    check_ports(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    check_settings(config)
    exception_handler = loop.get_exception_handler()
    try:
        async with open_all_services(config) as services:
            guard = ConnectionGuard(connection_limits(config))
            runner = http_runner(app_factory(services), config, guard)
            await runner.setup()
            loop.set_exception_handler(AcceptErrorLog())
            started: list[Listener] = []
            housekeeping: asyncio.Task[None] | None = None
            try:
                # The other listeners first: once /healthz answers, the SSH server is up too.
                for listener in listeners(services):
                    try:
                        await listener.start()
                    except OSError as exc:
                        raise ListenError(f"{listener.name} cannot listen: {exc.strerror or exc}") from exc
                    started.append(listener)
                site = GuardedSite(runner, config.http_host, config.http_port, guard)
                try:
                    await site.start()
                except OSError as exc:
                    raise ListenError(
                        f"cannot listen on {config.http_host}:{config.http_port}: {exc.strerror}"
                    ) from exc
                guard.start()
                await services.jobs.start()
                housekeeping = asyncio.create_task(run_maintenance(services, periodic_tasks()), name="maintenance")
                port = runner.addresses[0][1]
                _freeze_what_start_up_made()
                log.info("mnwd is serving", extra={"http": f"http://{config.http_host}:{port}"})
                print(f"open {site_url(config, port)}", flush=True)
                if ready is not None:
                    ready(services, port)
                await stop.wait()
                log.info("shutting down: draining requests", extra={"timeout_s": config.shutdown_timeout})
            finally:
                if housekeeping is not None:
                    housekeeping.cancel()
                await shut_down(config, services, runner, guard, started)
    finally:
        gc.enable()  # a start that failed before `_freeze_what_start_up_made`
        loop.set_exception_handler(exception_handler)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("mnwd stopped")
