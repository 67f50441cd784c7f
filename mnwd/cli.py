"""The ``mnwd`` command: ``serve``, ``migrate``, ``db-url``, ``config``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from mnwd.config import SETTINGS, Config, ConfigError
from mnwd.db.embedded import running_url
from mnwd.db.migrations import MigrationError, apply_migrations, load_migrations, migration_status
from mnwd.logs import configure_logging

__all__ = ["main"]


class CommandError(Exception):
    """A failure reported to the operator as one line, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnwd", description="The mnwd server of the creator platform.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="migrate the database and run the daemon (HTTP, SSH)")
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")
    commands.add_parser("db-url", help="print the database URL (for psql)")
    commands.add_parser("config", help="print every setting and its current value")
    return parser


async def _migrate(config: Config, status_only: bool) -> None:
    from mnwd.services import open_database

    migrations = load_migrations(config.migrations_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_database(config) as url:
        conn = await asyncpg.connect(url)
        try:
            if status_only:
                status = await migration_status(conn, migrations)
                pending = {m.version for m in status.pending}
                for m in migrations:
                    print(f"{'pending' if m.version in pending else 'applied'}  {m.filename}")
                return
            applied = await apply_migrations(conn, migrations)
        finally:
            await conn.close()
    if applied:
        for m in applied:
            print(f"applied  {m.filename}")
    else:
        print(f"the database is up to date ({len(migrations)} migrations)")


def _db_url(config: Config) -> None:
    if config.database_url is not None:
        print(config.database_url)
        return
    url = running_url(config.pg_dir)
    if url is None:
        raise CommandError(f"the embedded PostgreSQL in {config.pg_dir} is not running; start it with `mnwd serve`")
    print(url)


def _print_config(config: Config) -> None:
    width = max(len(s.env) for s in SETTINGS)
    for setting in SETTINGS:
        value = getattr(config, setting.field)
        shown = "***" if setting.secret and value else ("(unset)" if value is None else str(value))
        print(f"{setting.env:<{width}}  {shown}")


def _serve(config: Config) -> None:
    from mnwd.daemon import ListenError, serve

    try:
        asyncio.run(serve(config))
    except ListenError as exc:
        raise CommandError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"mnwd: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level_number, config.log_format)
    try:
        if args.command == "serve":
            _serve(config)
        elif args.command == "migrate":
            asyncio.run(_migrate(config, args.status))
        elif args.command == "db-url":
            _db_url(config)
        elif args.command == "config":
            _print_config(config)
    except (CommandError, MigrationError) as exc:
        print(f"mnwd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
