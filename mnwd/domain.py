"""The plug-in protocol: what one domain (accounts, apps, oauth, sync, ...) contributes to the daemon.

A domain's package exposes one `Domain` value as ``DOMAIN`` in its ``__init__``; `mnwd.domains.DOMAINS`
lists them in dependency order, and the hubs read only that list:

- ``routes(app)`` adds its pages and endpoints to the aiohttp application (`mnwd.app`);
- ``templates`` is its Jinja directory (templates are named ``<domain>/<page>.html``);
- ``page_context`` adds to what every page's template knows (accounts adds ``viewer``);
- ``commands(subcommands)`` adds its ``mnwd`` subcommands; each sets ``run`` (an async `CommandRun`)
  with ``parser.set_defaults(run=...)`` (`mnwd.cli`);
- ``settings`` is its `Section` of settings (`mnwd.config`), read at start-up;
- ``start(services)`` is an async context manager run when the services open, in list order (closed in
  reverse): it installs the domain's state (``services[KEY] = ...``), subscribes to LISTEN channels
  (``services.listen.subscribe``), registers its metrics on ``services.metrics.registry``;
- ``periodic`` are housekeeping tasks the daemon runs at an interval (`mnwd.maintenance`);
- ``jobs`` are the durable job kinds it handles (`mnwd.db.jobs`): each daemon's queue runs them;
- ``sql`` is its directory of repeatable SQL function files, re-applied after the migrations whenever one
  changes (`mnwd.db.migrations.load_functions`);
- ``blob_references`` tells whether one of its rows names a blob's bytes: the blob store is shared, and bytes
  are deleted only when no domain's check claims them (`mnwd.blobs.references`).
- ``listeners(services)`` are its servers beside HTTP (git's SSH server): `mnwd serve` starts each after HTTP
  and stops it at shutdown alongside the HTTP drain (`Listener.stop` lets work in flight finish within
  ``MNWD_SHUTDOWN_TIMEOUT``); ``ports(config)`` are the ``(host, port)`` they will bind, checked before start.

Nothing here is required: a domain contributes what it has.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

from aiohttp import web

from mnwd.blobs.references import ReferenceCheck
from mnwd.config import Config, Section
from mnwd.db.jobs import DEFAULT_MAX_ATTEMPTS, Job
from mnwd.services import Services
from mnwd.web.pages import ContextProcessor

__all__ = [
    "CommandContext",
    "CommandError",
    "CommandRun",
    "Domain",
    "JobKind",
    "Listener",
    "Periodic",
    "Subcommands",
    "format_table",
]

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CommandError(Exception):
    """A failure reported to the operator as one line, exit status 1."""


@dataclass(frozen=True)
class CommandContext:
    """What a subcommand gets: the config, and a way to open the services with every domain started."""

    config: Config
    open_services: Callable[[], AbstractAsyncContextManager[Services]]


CommandRun = Callable[[CommandContext, argparse.Namespace], Awaitable[None]]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A command's listing: left-aligned columns under a header line, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Periodic:
    """Housekeeping run by every daemon: first soon after start, then every ``every`` seconds."""

    name: str
    every: float
    run: Callable[[Services], Awaitable[object]]


@dataclass(frozen=True)
class JobKind:
    """A durable job a domain handles: ``run(services, job)`` must be idempotent (jobs run at least once)."""

    kind: str
    run: Callable[[Services, Job], Awaitable[None]]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


class Listener(Protocol):
    """A server beside HTTP (the git SSH server) run by the daemon's lifecycle."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop accepting, let work in flight finish (within the shutdown timeout), close the rest."""


@dataclass(frozen=True)
class Domain:
    name: str
    routes: Callable[[web.Application], None] | None = None
    templates: Path | None = None
    page_context: ContextProcessor | None = None
    commands: Callable[[Subcommands], None] | None = None
    settings: type[Section] | None = None
    start: Callable[[Services], AbstractAsyncContextManager[None]] | None = None
    periodic: tuple[Periodic, ...] = ()
    jobs: tuple[JobKind, ...] = ()
    sql: Path | None = None
    blob_references: ReferenceCheck | None = None
    listeners: Callable[[Services], Sequence[Listener]] | None = None
    ports: Callable[[Config], Sequence[tuple[str, int, str]]] | None = None
