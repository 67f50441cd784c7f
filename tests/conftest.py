"""Test harness: one embedded PostgreSQL per session (per xdist worker), a migrated template, and either a
fresh database per test (``db_url``, ``pool``, ``conn``, ``services``...) or, for query and logic tests on
one connection, a transaction rolled back on the worker's shared database (``tx_conn``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import jinja2
import jinja2.bccache
import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from mnwd.accounts.passwords import PASSWORDS, Passwords
from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.db.migrations import apply_migrations, load_functions, load_migrations
from mnwd.db.pool import create_pool, init_connection
from mnwd.domains import open_all_services, sql_dirs
from mnwd.services import Services
from mnwd.web.pages import TEMPLATES
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR, TEMPLATE

pytest_plugins = [
    "tests.support.accounts",
    "tests.support.oauth",
    "tests.support.sync",
    "tests.support.daemon",
    "tests.support.e2e",
    "tests.support.queries",
]


async def _build_template(cluster: EmbeddedPostgres) -> None:
    await cluster.start()
    admin = await asyncpg.connect(cluster.url_for("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(cluster.url_for(TEMPLATE))
    try:
        await apply_migrations(conn, load_migrations(MIGRATIONS_DIR), functions=load_functions(sql_dirs()))
    finally:
        await conn.close()


# A worker's cluster takes ~80 MB; a container's /dev/shm is often 64 MB in all.
SHM_FREE_NEEDED = 1 << 30


def _cluster_parent() -> str | None:
    """Where test clusters live: in memory (/dev/shm) when it has room, else the temp dir. On disk, cloning
    the template costs ~0.5-1 s of file creation per test on a busy machine; in memory ~40 ms."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= SHM_FREE_NEEDED:
        return str(shm)
    return None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's numbered temp dirs: another pytest run on this machine may prune those.
    root = Path(tempfile.mkdtemp(prefix="mnwd-test-pg-", dir=_cluster_parent()))
    cluster = EmbeddedPostgres(root / "data", database="postgres", unsafe_fast=True)
    try:
        asyncio.run(_build_template(cluster))
        yield cluster
    finally:
        cluster.stop_blocking()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def db_url(pg_cluster: EmbeddedPostgres) -> AsyncIterator[str]:
    """URL of a database of its own for this test, cloned from the migrated template."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_cluster.url_for("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
        yield pg_cluster.url_for(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _admin(cluster: EmbeddedPostgres, sql: str) -> None:
    admin = await asyncpg.connect(cluster.url_for("postgres"))
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def shared_db_url(pg_cluster: EmbeddedPostgres) -> str:
    """One migrated database for the whole session (of this worker), never cloned per test. Nothing may
    commit to it: tests read it, or write through ``tx_conn`` and are rolled back."""
    name = "mnwd_shared"
    asyncio.run(_admin(pg_cluster, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY'))
    return pg_cluster.url_for(name)


@pytest.fixture
async def tx_conn(shared_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back at the end, on the shared database: no clone.

    For query and logic tests on one connection that need not commit. Not for what only shows at commit
    (DEFERRABLE constraints), across connections (locks, LISTEN/NOTIFY), or outside transactions
    (``setval``/``nextval`` are not rolled back); those take ``conn``. A statement expected to fail must
    run in a savepoint (``async with tx_conn.transaction():``) if the test goes on after it.
    """
    connection = await asyncpg.connect(shared_db_url)
    try:
        await init_connection(connection)
        transaction = connection.transaction()
        await transaction.start()
        try:
            yield connection
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


def _count_queries_if_asked(request: pytest.FixtureRequest) -> None:
    """A test that counts statements (``query_count``) gets the counter set up before any pool is made."""
    if "query_count" in request.fixturenames:
        request.getfixturevalue("query_count")


@pytest.fixture
async def pool(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Pool]:
    _count_queries_if_asked(request)
    pool = await create_pool(db_url, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db_url)
    await init_connection(connection)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    # One pool connection made up front, not two: most tests never use a second (it is made when needed).
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1"},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
async def services(config: Config, request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    """The real Services; argon2 made cheap so tests that sign in many times stay fast. The database is a
    clone of the migrated template: the migration check of start-up (tests/db/test_migrations.py) is skipped."""
    _count_queries_if_asked(request)
    async with open_all_services(config, run_migrations=False) as built:
        built[PASSWORDS] = Passwords(FAST_HASHER)
        yield built


class SessionBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the session, in memory. Each test builds its own app, whose Jinja
    environment would otherwise compile every template it renders again (~40 ms for the first page)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # ignored if the template's source changed

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_BYTECODE = SessionBytecodeCache()


@pytest.fixture
async def client(services: Services, aiohttp_client: object) -> TestClient:  # type: ignore[type-arg]
    app = create_app(services)
    app[TEMPLATES].bytecode_cache = TEMPLATE_BYTECODE
    return await aiohttp_client(app)  # type: ignore[operator,no-any-return]
