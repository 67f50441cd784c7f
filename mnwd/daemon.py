"""`mnwd serve`: migrate, start the listeners, wait for SIGINT/SIGTERM, drain, close."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from typing import Protocol

from aiohttp import web

from mnwd.app import create_app
from mnwd.config import Config
from mnwd.domains import check_settings, open_all_services, periodic_tasks
from mnwd.errors import MnwdError
from mnwd.maintenance import run_maintenance
from mnwd.services import Services

__all__ = ["ListenError", "Listener", "check_ports", "serve"]

log = logging.getLogger(__name__)


class ListenError(MnwdError):
    """A listener could not bind its address."""


class Listener(Protocol):
    """A server beside HTTP (the git SSH server) run by the same lifecycle."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop accepting, let work in flight finish."""


def build_listeners(services: Services) -> list[Listener]:
    return []


def check_ports(config: Config) -> None:
    """Fail at once, before the database is started and migrated, when the HTTP address cannot be bound
    (taken by another process, or not an address of this host). Binding for real happens later."""
    where = f"{config.http_host}:{config.http_port}"
    try:
        addresses = socket.getaddrinfo(
            config.http_host, config.http_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror} (MNWD_HTTP_HOST)") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                hint = " (is another mnwd running? set MNWD_HTTP_PORT)" if exc.errno == errno.EADDRINUSE else ""
                raise ListenError(f"cannot listen on {where}: {exc.strerror}{hint}") from None


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
    try:
        async with open_all_services(config) as services:
            runner = web.AppRunner(
                app_factory(services), access_log=None, shutdown_timeout=config.shutdown_timeout, handle_signals=False
            )
            await runner.setup()
            started: list[Listener] = []
            housekeeping: asyncio.Task[None] | None = None
            try:
                site = web.TCPSite(runner, config.http_host, config.http_port, reuse_address=True)
                try:
                    await site.start()
                except OSError as exc:
                    raise ListenError(
                        f"cannot listen on {config.http_host}:{config.http_port}: {exc.strerror}"
                    ) from exc
                for listener in listeners(services):
                    await listener.start()
                    started.append(listener)
                await services.jobs.start()
                housekeeping = asyncio.create_task(run_maintenance(services, periodic_tasks()), name="maintenance")
                port = runner.addresses[0][1]
                log.info("mnwd is serving", extra={"http": f"http://{config.http_host}:{port}"})
                if ready is not None:
                    ready(services, port)
                await stop.wait()
                log.info("shutting down: draining requests", extra={"timeout_s": config.shutdown_timeout})
            finally:
                if housekeeping is not None:
                    housekeeping.cancel()
                await services.jobs.stop(grace=config.shutdown_timeout)
                for listener in reversed(started):
                    await listener.stop()
                await runner.cleanup()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("mnwd stopped")
