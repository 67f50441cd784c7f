"""Numbered SQL migrations: ``NNNN_name.sql``, applied in order, one transaction each; and repeatable SQL
function files, re-applied whenever their text changes.

Each applied migration is recorded in ``schema_migrations`` with a SHA-256 checksum of its text. A session
advisory lock serialises daemons starting together, so a migration runs once. A landed file whose text
changed, or a database that has migrations this code does not know, stops start-up.

Function files (``lowercase_name.sql``, e.g. ``mnwd/sync/sql/sync_push.sql``) hold ``CREATE OR REPLACE``
definitions, so the current body of a database function lives in one place. After the migrations, under the
same lock, each file whose checksum differs from the one recorded in ``schema_functions`` is applied in a
transaction of its own and recorded; files run alphabetically within a directory, directories in the order
given. A file that fails stops start-up (`MigrationError` naming it) and leaves the previous definition.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from mnwd.errors import MnwdError

__all__ = [
    "EditedMigration",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "SqlFunction",
    "UnknownMigration",
    "apply_migrations",
    "load_functions",
    "load_migrations",
    "migration_status",
]

log = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
FUNCTION_FILE_PATTERN = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")
# "mnwd" in ASCII; one constant key shared by every daemon and `mnwd migrate`.
LOCK_KEY = 0x6D6E7764

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
)
"""

CREATE_FUNCTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_functions (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
)
"""


class MigrationError(MnwdError):
    """The migrations on disk and in the database cannot be reconciled."""


class EditedMigration(MigrationError):
    pass


class UnknownMigration(MigrationError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclass(frozen=True)
class SqlFunction:
    """A repeatable file of ``CREATE OR REPLACE`` definitions; ``name`` (the file's stem) is its key."""

    name: str
    path: Path
    sql: str = field(repr=False)
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[int]
    pending: list[Migration]
    pending_functions: list[SqlFunction] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return not self.pending and not self.pending_functions


def _checksum(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version:04d} is used twice")
        sql = path.read_text(encoding="utf-8")
        found[version] = Migration(version, match.group(2), sql, _checksum(sql))
    return [found[v] for v in sorted(found)]


def load_functions(dirs: Sequence[Path]) -> list[SqlFunction]:
    """The function files of ``dirs``, in the order they are applied: directories as given, files
    alphabetically within each. A name is the key in ``schema_functions``, so it may appear only once."""
    found: dict[str, SqlFunction] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise MigrationError(f"SQL function directory {directory} does not exist")
        for path in sorted(directory.glob("*.sql")):
            match = FUNCTION_FILE_PATTERN.match(path.name)
            if match is None:
                raise MigrationError(f"{path}: SQL function files are named lowercase_name.sql")
            name = match.group(1)
            if name in found:
                raise MigrationError(f"{path}: the name {name!r} is taken by {found[name].path}")
            sql = path.read_text(encoding="utf-8")
            found[name] = SqlFunction(name, path, sql, _checksum(sql))
    return list(found.values())


async def _applied(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def _reconcile(applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> list[Migration]:
    known = {m.version: m for m in migrations}
    unknown = sorted(set(applied) - set(known))
    if unknown:
        names = ", ".join(f"{v:04d}_{applied[v][0]}" for v in unknown)
        raise UnknownMigration(
            f"the database has migrations this mnwd does not have ({names}); "
            "run a newer mnwd or check MNWD_MIGRATIONS_DIR"
        )
    for version, (_name, checksum) in sorted(applied.items()):
        migration = known[version]
        if migration.checksum != checksum:
            raise EditedMigration(
                f"migration {migration.filename} was edited after it was applied "
                f"(checksum {checksum[:12]} in the database, {migration.checksum[:12]} on disk); "
                "restore the file and put the change in a new migration"
            )
    return [m for m in migrations if m.version not in applied]


async def _pending_functions(conn: asyncpg.Connection, functions: Sequence[SqlFunction]) -> list[SqlFunction]:
    if not functions:
        return []
    recorded: dict[str, str] = {}
    if await conn.fetchval("SELECT to_regclass('schema_functions')") is not None:
        rows = await conn.fetch("SELECT name, checksum FROM schema_functions")
        recorded = {r["name"]: r["checksum"] for r in rows}
    return [f for f in functions if recorded.get(f.name) != f.checksum]


async def migration_status(
    conn: asyncpg.Connection, migrations: list[Migration], *, functions: Sequence[SqlFunction] = ()
) -> MigrationStatus:
    applied = await _applied(conn)
    pending = _reconcile(applied, migrations)
    return MigrationStatus(
        applied=sorted(applied), pending=pending, pending_functions=await _pending_functions(conn, functions)
    )


async def apply_migrations(
    conn: asyncpg.Connection, migrations: list[Migration], *, functions: Sequence[SqlFunction] = ()
) -> list[Migration | SqlFunction]:
    """Apply pending migrations, then the function files whose text changed; returns what this call applied
    (empty when another daemon did)."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE)
        pending = _reconcile(await _applied(conn), migrations)
        for migration in pending:
            started = time.monotonic()
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    elapsed = int((time.monotonic() - started) * 1000)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                        elapsed,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.filename} failed: {exc}") from exc
            log.info("applied migration", extra={"migration": migration.filename, "duration_ms": elapsed})
        applied: list[Migration | SqlFunction] = [*pending]
        if functions:
            await conn.execute(CREATE_FUNCTIONS_TABLE)
            for function in await _pending_functions(conn, functions):
                await _apply_function(conn, function)
                applied.append(function)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def _apply_function(conn: asyncpg.Connection, function: SqlFunction) -> None:
    started = time.monotonic()
    try:
        async with conn.transaction():
            await conn.execute(function.sql)
            elapsed = int((time.monotonic() - started) * 1000)
            await conn.execute(
                """
                INSERT INTO schema_functions (name, checksum, duration_ms) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE
                SET checksum = excluded.checksum, applied_at = now(), duration_ms = excluded.duration_ms
                """,
                function.name,
                function.checksum,
                elapsed,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"SQL function file {function.path} failed: {exc}") from exc
    log.info("applied SQL function file", extra={"function": str(function.path), "duration_ms": elapsed})
