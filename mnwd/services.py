"""The one `Services` object: built at start-up, handed to every part, closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from mnwd.accounts.passwords import Passwords
from mnwd.blobs import BlobStore, create_blob_store
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.db.migrations import Migration, SqlFunction, apply_migrations, load_functions, load_migrations
from mnwd.db.pool import create_pool, pool_stats
from mnwd.keyring import Keyring, load_secret_key
from mnwd.mail import Mailer, create_mailer
from mnwd.metrics import Metrics
from mnwd.oauth.bearer_cache import CHANNEL as BEARERS_CHANNEL
from mnwd.oauth.bearer_cache import BearerCache
from mnwd.ratelimit import RateLimiter
from mnwd.sync.notifier import ChangeNotifier
from mnwd.sync.readahead import ReadAhead

__all__ = ["FUNCTION_DIRS", "Services", "open_database", "open_services"]

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent
# Directories of repeatable SQL function files (mnwd/db/migrations.py), applied after the migrations in this
# order, files alphabetically within each. Later each domain will contribute its own.
FUNCTION_DIRS = [_PACKAGE / "oauth" / "sql", _PACKAGE / "sync" / "sql"]


@dataclass
class Services:
    config: Config
    pool: asyncpg.Pool
    blobs: BlobStore
    metrics: Metrics
    migrations: list[Migration]
    functions: list[SqlFunction]
    keyring: Keyring
    mailer: Mailer
    passwords: Passwords
    limiter: RateLimiter
    notifier: ChangeNotifier
    bearers: BearerCache
    readahead: ReadAhead


@contextlib.asynccontextmanager
async def open_database(config: Config) -> AsyncIterator[str]:
    """Yield the database URL, running the embedded server for the duration when DATABASE_URL is unset."""
    if config.database_url is not None:
        yield config.database_url
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
async def open_services(config: Config, *, run_migrations: bool = True) -> AsyncIterator[Services]:
    migrations = load_migrations(config.migrations_dir)
    functions = load_functions(FUNCTION_DIRS)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_database(config) as url:
        if run_migrations:
            applied = await migrate(url, migrations, functions)
            if applied:
                log.info("database migrated", extra={"applied": [m.filename for m in applied]})
        pool = await create_pool(url, min_size=config.db_pool_min, max_size=config.db_pool_max)
        blobs = create_blob_store(
            data_dir=config.data_dir,
            s3_bucket=config.s3_bucket,
            s3_prefix=config.s3_prefix,
            s3_endpoint_url=config.s3_endpoint_url,
            s3_region=config.s3_region,
        )
        metrics = Metrics()
        metrics.watch_pool(lambda: pool_stats(pool))
        mailer = create_mailer(smtp_url=config.smtp_url, outbox_dir=config.data_dir / "outbox", sender=config.mail_from)
        bearers = BearerCache(config.bearer_cache_seconds)
        readahead = ReadAhead()
        notifier = ChangeNotifier(url, {BEARERS_CHANNEL: bearers})
        await notifier.start()
        try:
            yield Services(
                config=config,
                pool=pool,
                blobs=blobs,
                metrics=metrics,
                migrations=migrations,
                functions=functions,
                keyring=Keyring(load_secret_key(config.secret_key, config.data_dir)),
                mailer=mailer,
                passwords=Passwords(),
                limiter=RateLimiter(pool),
                notifier=notifier,
                bearers=bearers,
                readahead=readahead,
            )
        finally:
            readahead.close()
            await notifier.close()
            await mailer.close()
            await blobs.close()
            await pool.close()
