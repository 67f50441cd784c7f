from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.db.migrations import (
    EditedMigration,
    MigrationError,
    UnknownMigration,
    apply_migrations,
    load_functions,
    load_migrations,
    migration_status,
)
from mnwd.domains import open_all_services, sql_dirs
from tests.support import forkserver
from tests.support.daemon import RunningDaemon, daemon_env, start_daemon, wait_healthy
from tests.support.db import MIGRATIONS_DIR


@pytest.fixture
async def empty_db_url(pg_cluster: EmbeddedPostgres) -> AsyncIterator[str]:
    name = f"e_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_cluster.url_for("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield pg_cluster.url_for(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(sql)


async def test_services_migrate_the_database_on_start(empty_db_url: str, tmp_path: Path) -> None:
    """In process what `mnwd serve` does at start-up (the ``services`` fixture skips it: its clone is migrated)."""
    config = Config.from_env(
        {}, data_dir=tmp_path / "var", database_url=empty_db_url, migrations_dir=MIGRATIONS_DIR, log_format="text"
    )
    for _ in range(2):
        async with open_all_services(config) as services:
            versions = await services.pool.fetchval("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
        assert versions == [m.version for m in load_migrations(MIGRATIONS_DIR)]


async def test_applies_every_migration_once_in_order(empty_db_url: str) -> None:
    migrations = load_migrations(MIGRATIONS_DIR)
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    conn = await asyncpg.connect(empty_db_url)
    try:
        applied = await apply_migrations(conn, migrations)
        assert [m.version for m in applied] == [m.version for m in migrations]
        assert await apply_migrations(conn, migrations) == []
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
            (m.version, m.name, m.checksum) for m in migrations
        ]
        assert (await migration_status(conn, migrations)).current
    finally:
        await conn.close()


async def test_an_edited_landed_migration_is_refused(empty_db_url: str, migrations_copy: Path) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(migrations_copy))
        first = sorted(migrations_copy.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(EditedMigration, match=f"migration {first.name} was edited after it was applied"):
            await apply_migrations(conn, load_migrations(migrations_copy))
    finally:
        await conn.close()


async def test_line_endings_do_not_count_as_an_edit(empty_db_url: str, migrations_copy: Path) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(migrations_copy))
        first = sorted(migrations_copy.glob("*.sql"))[0]
        first.write_bytes(first.read_bytes().replace(b"\n", b"\r\n"))
        assert await apply_migrations(conn, load_migrations(migrations_copy)) == []
    finally:
        await conn.close()


async def test_a_database_newer_than_the_code_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    write(newer, "0001_one.sql", "CREATE TABLE one (id int);")
    write(newer, "0002_two.sql", "CREATE TABLE two (id int);")
    older = tmp_path / "older"
    write(older, "0001_one.sql", "CREATE TABLE one (id int);")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(newer))
        with pytest.raises(UnknownMigration, match="0002_two"):
            await apply_migrations(conn, load_migrations(older))
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    write(directory, "0001_good.sql", "CREATE TABLE good (id int);")
    write(directory, "0002_bad.sql", "CREATE TABLE half (id int);\nCREATE TABLE broken (id nosuchtype);")
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(MigrationError, match=r"migration 0002_bad.sql failed: .*nosuchtype"):
            await apply_migrations(conn, load_migrations(directory))
        assert await conn.fetchval("SELECT array_agg(version) FROM schema_migrations") == [1]
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_misnamed_files_are_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=r"named NNNN_lowercase_name\.sql"):
        load_migrations(tmp_path)


def test_a_version_used_twice_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0001_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="version 0001 is used twice"):
        load_migrations(tmp_path)


async def test_concurrent_runners_migrate_once(empty_db_url: str) -> None:
    migrations = load_migrations(MIGRATIONS_DIR)
    conns = [await asyncpg.connect(empty_db_url) for _ in range(5)]
    try:
        results = await asyncio.gather(*(apply_migrations(c, migrations) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 0, 0, len(migrations)]
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(migrations)
    finally:
        for c in conns:
            await c.close()


@pytest.mark.e2e
async def test_two_daemons_started_together_migrate_once(empty_db_url: str, tmp_path: Path) -> None:
    daemons: list[RunningDaemon] = []
    try:
        for n in range(2):
            daemons.append(start_daemon(tmp_path / f"d{n}", {"DATABASE_URL": empty_db_url}, wait=False))
        for daemon in daemons:
            await asyncio.to_thread(wait_healthy, daemon)
        conn = await asyncpg.connect(empty_db_url)
        try:
            versions = await conn.fetchval("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
        finally:
            await conn.close()
        assert versions == [m.version for m in load_migrations(MIGRATIONS_DIR)]
    finally:
        codes = [d.stop() for d in daemons]
    assert codes == [0, 0]
    applied_logs = [d.log().count('"applied migration"') for d in daemons]
    assert sorted(applied_logs) == [0, len(versions)]


@pytest.mark.e2e
async def test_serve_refuses_to_start_after_a_landed_migration_was_edited(
    db_url: str, migrations_copy: Path, tmp_path: Path
) -> None:
    last = sorted(migrations_copy.glob("*.sql"))[-1]
    last.write_text(last.read_text() + "\n-- edited after it was applied\n")
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_MIGRATIONS_DIR": str(migrations_copy)})
    result = await asyncio.to_thread(
        forkserver.run, [sys.executable, "-m", "mnwd", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"mnwd: migration {last.name} was edited after it was applied" in result.stderr


@pytest.mark.e2e
async def test_migrate_command_reports_what_it_did(empty_db_url: str, tmp_path: Path) -> None:
    env = daemon_env(tmp_path, {"DATABASE_URL": empty_db_url})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return forkserver.run(
            [sys.executable, "-m", "mnwd", *args], env=env, capture_output=True, text=True, timeout=60
        )

    names = [m.filename for m in load_migrations(MIGRATIONS_DIR)]
    names += [f"function {f.filename}" for f in load_functions(sql_dirs())]
    status = await asyncio.to_thread(run, "migrate", "--status")
    assert status.stdout.splitlines() == [f"pending  {n}" for n in names]
    first = await asyncio.to_thread(run, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"applied  {n}" for n in names]
    second = await asyncio.to_thread(run, "migrate")
    counts = f"{len(load_migrations(MIGRATIONS_DIR))} migrations, {len(load_functions(sql_dirs()))} function files"
    assert second.stdout.strip() == f"the database is up to date ({counts})"
    status = await asyncio.to_thread(run, "migrate", "--status")
    assert status.stdout.splitlines() == [f"applied  {n}" for n in names]


# Repeatable SQL function files

TABLE = "CREATE TABLE t (id int);"


def answer_function(value: int) -> str:
    return f"CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT {value} $$;"


@pytest.fixture
def schema(tmp_path: Path) -> tuple[Path, Path]:
    """A migrations directory and a function directory holding ``answer.sql`` (returns 1)."""
    migrations, functions = tmp_path / "migrations", tmp_path / "sql"
    write(migrations, "0001_table.sql", TABLE)
    write(functions, "answer.sql", answer_function(1))
    return migrations, functions


async def recorded(conn: asyncpg.Connection) -> dict[str, tuple[str, object]]:
    rows = await conn.fetch("SELECT name, checksum, applied_at FROM schema_functions")
    return {r["name"]: (r["checksum"], r["applied_at"]) for r in rows}


async def test_function_files_apply_after_the_migrations_and_are_recorded(empty_db_url: str, tmp_path: Path) -> None:
    migrations, functions = tmp_path / "migrations", tmp_path / "sql"
    write(migrations, "0001_table.sql", TABLE)
    # Reads t when it is created: the migrations have run before it.
    write(
        functions,
        "count_t.sql",
        "CREATE OR REPLACE FUNCTION count_t() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM t $$;",
    )
    conn = await asyncpg.connect(empty_db_url)
    try:
        loaded = load_functions([functions])
        applied = await apply_migrations(conn, load_migrations(migrations), functions=loaded)
        assert [a.filename for a in applied] == ["0001_table.sql", "count_t.sql"]
        assert await conn.fetchval("SELECT count_t()") == 0
        assert {name: checksum for name, (checksum, _) in (await recorded(conn)).items()} == {
            "count_t": loaded[0].checksum
        }
    finally:
        await conn.close()


async def test_an_unchanged_function_file_is_not_applied_again(empty_db_url: str, schema: tuple[Path, Path]) -> None:
    migrations, functions = schema
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(migrations), functions=load_functions([functions]))
        before = await recorded(conn)
        # Were it applied again, this definition would be replaced.
        await conn.execute(answer_function(99))
        assert await apply_migrations(conn, load_migrations(migrations), functions=load_functions([functions])) == []
        assert await recorded(conn) == before
        assert await conn.fetchval("SELECT answer()") == 99
    finally:
        await conn.close()


async def test_a_changed_function_file_is_applied_once_and_recorded(
    empty_db_url: str, schema: tuple[Path, Path]
) -> None:
    migrations, functions = schema
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(migrations), functions=load_functions([functions]))
        first = await recorded(conn)
        write(functions, "answer.sql", answer_function(2))
        changed = load_functions([functions])
        assert [a.filename for a in await apply_migrations(conn, load_migrations(migrations), functions=changed)] == [
            "answer.sql"
        ]
        assert await conn.fetchval("SELECT answer()") == 2
        second = await recorded(conn)
        assert second["answer"][0] == changed[0].checksum != first["answer"][0]
        assert second["answer"][1] > first["answer"][1]  # type: ignore[operator]
        assert await apply_migrations(conn, load_migrations(migrations), functions=changed) == []
        assert await recorded(conn) == second
    finally:
        await conn.close()


async def test_a_broken_function_file_stops_and_keeps_the_old_function(
    empty_db_url: str, schema: tuple[Path, Path]
) -> None:
    migrations, functions = schema
    write(functions, "zzz_after.sql", "CREATE OR REPLACE FUNCTION after() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, load_migrations(migrations), functions=load_functions([functions]))
        before = await recorded(conn)
        write(functions, "answer.sql", answer_function(3).replace("SELECT 3", "SELECT 3 FROM no_such_table"))
        write(
            functions, "zzz_after.sql", "CREATE OR REPLACE FUNCTION after() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;"
        )
        broken = load_functions([functions])
        with pytest.raises(
            MigrationError, match=rf"SQL function file {functions / 'answer.sql'} failed: .*no_such_table"
        ):
            await apply_migrations(conn, load_migrations(migrations), functions=broken)
        assert await conn.fetchval("SELECT answer()") == 1
        # The files after it were not applied either: start-up stopped at the broken one.
        assert await conn.fetchval("SELECT after()") == 1
        assert await recorded(conn) == before
        status = await migration_status(conn, load_migrations(migrations), functions=broken)
        assert [f.filename for f in status.pending_functions] == ["answer.sql", "zzz_after.sql"]
    finally:
        await conn.close()


async def test_status_reports_pending_function_files(empty_db_url: str, schema: tuple[Path, Path]) -> None:
    migrations, functions = schema
    write(functions, "other.sql", "CREATE OR REPLACE FUNCTION other() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;")
    conn = await asyncpg.connect(empty_db_url)
    try:
        loaded = load_functions([functions])
        status = await migration_status(conn, load_migrations(migrations), functions=loaded)
        assert [f.filename for f in status.pending_functions] == ["answer.sql", "other.sql"]
        assert not status.current
        await apply_migrations(conn, load_migrations(migrations), functions=loaded)
        assert (await migration_status(conn, load_migrations(migrations), functions=loaded)).current
        write(functions, "other.sql", "CREATE OR REPLACE FUNCTION other() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;")
        status = await migration_status(conn, load_migrations(migrations), functions=load_functions([functions]))
        assert [f.filename for f in status.pending_functions] == ["other.sql"]
        assert status.pending == []
        assert not status.current
    finally:
        await conn.close()


async def test_concurrent_runners_apply_a_function_file_once(empty_db_url: str) -> None:
    migrations, functions = load_migrations(MIGRATIONS_DIR), load_functions(sql_dirs())
    conns = [await asyncpg.connect(empty_db_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c, migrations, functions=functions) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 0, len(migrations) + len(functions)]
        assert len(await recorded(conns[0])) == len(functions)
    finally:
        for c in conns:
            await c.close()


def test_function_files_load_in_directory_order_then_alphabetically(tmp_path: Path) -> None:
    write(tmp_path / "b", "zeta.sql", "SELECT 1;")
    write(tmp_path / "b", "alpha.sql", "SELECT 1;")
    write(tmp_path / "a", "mid.sql", "SELECT 1;")
    loaded = load_functions([tmp_path / "b", tmp_path / "a"])
    assert [f.name for f in loaded] == ["alpha", "zeta", "mid"]


def test_a_function_name_used_in_two_directories_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a", "same.sql", "SELECT 1;")
    write(tmp_path / "b", "same.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"the name 'same' is taken by .*a/same\.sql"):
        load_functions([tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize("name", ["Upper.sql", "0001_numbered.sql", "dash-name.sql"])
def test_misnamed_function_files_are_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=r"named lowercase_name\.sql"):
        load_functions([tmp_path])


def test_a_missing_function_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        load_functions([tmp_path / "nowhere"])


def test_every_function_file_ships_with_the_package() -> None:
    """pyproject's package-data must carry the files: an installed mnwd without them would run stale SQL."""
    import tomllib

    patterns = tomllib.loads((MIGRATIONS_DIR.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["mnwd"]
    package = MIGRATIONS_DIR.parent / "mnwd"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    assert {f.path for f in load_functions(sql_dirs())} <= shipped
