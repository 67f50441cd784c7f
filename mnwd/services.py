"""The one `Services` object: built at start-up, handed to every part, closed at shutdown.

It holds the base components only (config, pool, blobs, mailer, keyring, metrics, limiter, LISTEN bus,
clock, jobs). A domain keeps its own state (a cache, a notifier) under a typed `ServiceKey`, installed by its
``start`` when the services open: ``services[BEARERS]``. `open_services` takes the domains' plug-ins as
plain values, so this module knows no domain.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from mnwd.blobs import BlobStore, create_blob_store
from mnwd.blobs.references import ReferenceCheck
from mnwd.clock import Clock
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres, running_url
from mnwd.db.jobs import Job, JobQueue
from mnwd.db.lane import Lane
from mnwd.db.listen import ListenBus
from mnwd.db.migrations import Migration, SqlFunction, apply_migrations, load_functions, load_migrations
from mnwd.db.pool import create_pool, pool_stats, session_settings, wait_for_database
from mnwd.keyring import Keyring, load_secret_key
from mnwd.mail import Mailer, create_mailer
from mnwd.metrics import Metrics
from mnwd.ratelimit import RateLimiter

__all__ = ["Installer", "JobHandling", "ServiceKey", "Services", "open_database", "open_services"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ServiceKey(Generic[T]):
    """The typed name of one piece of domain state kept in `Services`."""

    def __init__(self, name: str, kind: type[T]) -> None:
        self.name = name
        self.kind = kind

    def __repr__(self) -> str:
        return f"<ServiceKey {self.name}>"


@dataclass
class Services:
    config: Config
    pool: asyncpg.Pool
    # Connections apart from the pool for hot single statements (`mnwd.db.lane`): a sync push, a pull's page.
    lane: Lane
    blobs: BlobStore
    metrics: Metrics
    migrations: list[Migration]
    functions: list[SqlFunction]
    keyring: Keyring
    mailer: Mailer
    limiter: RateLimiter
    listen: ListenBus
    jobs: JobQueue
    clock: Clock = field(default_factory=Clock)
    # Every domain's check for rows naming a blob's bytes: bytes no check claims may be deleted.
    blob_references: tuple[ReferenceCheck, ...] = ()
    _state: dict[ServiceKey[Any], Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: ServiceKey[T]) -> T:
        try:
            value: T = self._state[key]
        except KeyError:
            raise LookupError(f"{key.name} is not installed: is its domain in mnwd.domains.DOMAINS?") from None
        return value

    def __setitem__(self, key: ServiceKey[T], value: T) -> None:
        self._state[key] = value

    def __contains__(self, key: ServiceKey[Any]) -> bool:
        return key in self._state


class Installer(Protocol):
    """What `open_services` needs of a domain plug-in (`mnwd.domain.Domain` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def sql(self) -> Path | None:
        """Its directory of repeatable SQL function files (`mnwd.db.migrations.load_functions`)."""

    @property
    def start(self) -> Callable[[Services], AbstractAsyncContextManager[None]] | None: ...

    @property
    def jobs(self) -> Sequence[JobHandling]: ...

    @property
    def blob_references(self) -> ReferenceCheck | None:
        """Whether one of its rows names a blob's bytes (`mnwd.blobs.references`)."""


class JobHandling(Protocol):
    """A durable job kind a domain handles (`mnwd.domain.JobKind` is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def run(self) -> Callable[[Services, Job], Awaitable[None]]: ...

    @property
    def max_attempts(self) -> int: ...


@contextlib.asynccontextmanager
async def open_database(config: Config, *, share_running: bool = False) -> AsyncIterator[str]:
    """Yield the database URL, running the embedded server for the duration when DATABASE_URL is unset.

    With ``share_running`` (commands), an embedded server already running in the data directory (a daemon's)
    is used as it is, neither joined nor started: the command must not stop it, nor start a second one.
    DATABASE_URL is tried for up to ``MNWD_DB_START_WAIT`` seconds (`wait_for_database`)."""
    if config.database_url is not None:
        await wait_for_database(config.database_url, name="DATABASE_URL", wait=config.db_start_wait)
        yield config.database_url
        return
    running = running_url(config.pg_dir) if share_running else None
    if running is not None:
        yield running
        return
    embedded = EmbeddedPostgres(config.pg_dir)
    url = await embedded.start()
    try:
        yield url
    finally:
        await embedded.stop()


async def migrate(url: str, migrations: list[Migration], functions: list[SqlFunction]) -> list[Migration | SqlFunction]:
    conn = await asyncpg.connect(url)
    try:
        return await apply_migrations(conn, migrations, functions=functions)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def open_services(
    config: Config,
    domains: Sequence[Installer] = (),
    *,
    run_migrations: bool = True,
    share_running: bool = False,
) -> AsyncIterator[Services]:
    """Open the base components, then start each domain in order (stopped in reverse). ``share_running``:
    see `open_database`.

    The job queue is created here but started by the daemon (`mnwd.daemon`), so commands and tests that
    open the services run no jobs unless they ask (``await services.jobs.run_due()``)."""
    migrations = load_migrations(config.migrations_dir)
    functions = load_functions([d.sql for d in domains if d.sql is not None])
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_database(config, share_running=share_running) as url:
        if run_migrations:
            applied = await migrate(url, migrations, functions)
            if applied:
                log.info("database migrated", extra={"applied": [m.filename for m in applied]})
        async with contextlib.AsyncExitStack() as stack:
            pool = await create_pool(
                url,
                min_size=config.db_pool_min,
                max_size=config.db_pool_max,
                statement_timeout=config.db_statement_timeout,
                lock_timeout=config.db_lock_timeout,
            )
            stack.push_async_callback(pool.close)
            lane = Lane(
                url,
                size=max(2, config.db_pool_max // 2),
                server_settings=session_settings(
                    statement_timeout=config.db_statement_timeout, lock_timeout=config.db_lock_timeout
                ),
            )
            stack.push_async_callback(lane.close)
            blobs = create_blob_store(
                data_dir=config.data_dir,
                s3_bucket=config.s3_bucket,
                s3_prefix=config.s3_prefix,
                s3_endpoint_url=config.s3_endpoint_url,
                s3_region=config.s3_region,
            )
            stack.push_async_callback(blobs.close)
            metrics = Metrics()
            metrics.watch_pool(lambda: pool_stats(pool))
            mailer = create_mailer(
                smtp_url=config.smtp_url, outbox_dir=config.data_dir / "outbox", sender=config.mail_from
            )
            stack.push_async_callback(mailer.close)
            listen = ListenBus(
                url, probe_interval=config.listen_probe_interval, probe_timeout=config.listen_probe_timeout
            )
            clock = Clock()
            services = Services(
                config=config,
                pool=pool,
                lane=lane,
                blobs=blobs,
                metrics=metrics,
                migrations=migrations,
                functions=functions,
                keyring=Keyring(load_secret_key(config.secret_key, config.data_dir)),
                mailer=mailer,
                limiter=RateLimiter(pool, clock),
                listen=listen,
                jobs=JobQueue(pool, metrics=metrics, concurrency=config.job_concurrency),
                clock=clock,
                blob_references=tuple(d.blob_references for d in domains if d.blob_references is not None),
            )
            for domain in domains:
                for job in domain.jobs:
                    services.jobs.register(
                        job.kind, functools.partial(job.run, services), max_attempts=job.max_attempts
                    )
                if domain.start is not None:
                    await stack.enter_async_context(domain.start(services))
            await listen.start()
            stack.push_async_callback(listen.close)
            yield services
