"""The ``mnwd`` command: the base's ``serve``, ``migrate``, ``db-url``, ``config`` and ``routes``, and each
domain's subcommands (``user``, ``app``, ``sync``, ...) from `mnwd.domains.DOMAINS`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib.metadata
import logging
import sys
from collections.abc import Sequence

import asyncpg

from mnwd.config import Config, ConfigError, Setting, unknown_variables
from mnwd.db.embedded import running_url
from mnwd.db.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    load_functions,
    load_migrations,
    migration_status,
)
from mnwd.db.pool import DatabaseUnreachable
from mnwd.domain import CommandContext, CommandError
from mnwd.domains import DOMAINS, all_settings, check_settings, open_all_services, sql_dirs
from mnwd.errors import Problem
from mnwd.logs import configure_logging
from mnwd.services import open_database

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnwd", description="The mnwd server of the creator platform.")
    parser.add_argument("--version", action="version", version=f"mnwd {importlib.metadata.version('mnwd')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="migrate the database and run the daemon (HTTP, SSH)").set_defaults(run=_serve)
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")
    migrate.set_defaults(run=_migrate)
    commands.add_parser("db-url", help="print the database URL (for psql)").set_defaults(run=_db_url)
    commands.add_parser("config", help="print every setting and its current value").set_defaults(run=_print_config)
    commands.add_parser("routes", help="print every HTTP route: method, path, handler").set_defaults(run=_routes)
    for domain in DOMAINS:
        if domain.commands is not None:
            domain.commands(commands)
    return parser


async def _migrate(context: CommandContext, args: argparse.Namespace) -> None:
    config = context.config
    migrations = load_migrations(config.migrations_dir)
    functions = load_functions(sql_dirs())
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_database(config, share_running=True) as url:
        conn = await asyncpg.connect(url)
        try:
            if args.status:
                status = await migration_status(conn, migrations, functions=functions)
                pending = {m.version for m in status.pending}
                for m in migrations:
                    print(f"{'pending' if m.version in pending else 'applied'}  {m.filename}")
                stale = {f.name for f in status.pending_functions}
                for f in functions:
                    print(f"{'pending' if f.name in stale else 'applied'}  function {f.filename}")
                return
            applied = await apply_migrations(conn, migrations, functions=functions)
        finally:
            await conn.close()
    if applied:
        for done in applied:
            print(f"applied  {'' if isinstance(done, Migration) else 'function '}{done.filename}")
    else:
        print(f"the database is up to date ({len(migrations)} migrations, {len(functions)} function files)")


async def _db_url(context: CommandContext, args: argparse.Namespace) -> None:
    config = context.config
    if config.database_url is not None:
        print(config.database_url)
        return
    url = running_url(config.pg_dir)
    if url is None:
        raise CommandError(f"the embedded PostgreSQL in {config.pg_dir} is not running; start it with `mnwd serve`")
    print(url)


async def _print_config(context: CommandContext, args: argparse.Namespace) -> None:
    settings = all_settings()
    width = max(len(s.env) for s in settings)
    domains = {s.env: d.settings for d in DOMAINS if d.settings is not None for s in d.settings.SETTINGS}
    for setting in settings:
        section = domains.get(setting.env)
        source = context.config if section is None else context.config.section(section)
        print(f"{setting.env:<{width}}  {_shown(context.config, setting, getattr(source, setting.field))}")


def _shown(config: Config, setting: Setting, value: object) -> str:
    """A setting's effective value as `mnwd config` prints it: secrets hidden, defaults that depend on other
    settings worked out."""
    if setting.env == "MNWD_PUBLIC_URL" and value is None:
        return f"{config.base_url} (from MNWD_HTTP_HOST and MNWD_HTTP_PORT)"
    if setting.env == "MNWD_SECRET_KEY" and value is None:
        path = config.data_dir / "secret_key"
        state = "generated, stored in" if path.exists() else "generated at first start into"
        return f"*** ({state} {path})"
    if setting.env == "DATABASE_URL" and value is None:
        return f"(unset: the embedded PostgreSQL in {config.pg_dir})"
    if setting.secret and value:
        return "***"
    return "(unset)" if value is None else str(value)


async def _routes(context: CommandContext, args: argparse.Namespace) -> None:
    from mnwd.app import build_app, route_table

    for method, path, handler in route_table(build_app()):
        print(f"{method:<7} {path:<48} {handler}")


async def _serve(context: CommandContext, args: argparse.Namespace) -> None:
    from mnwd.daemon import ListenError, serve

    try:
        await serve(context.config)
    except ListenError as exc:
        raise CommandError(str(exc)) from None


def _problem_text(problem: Problem) -> str:
    details = "; ".join(f"{e['field']}: {e['message']}" for e in problem.extra.get("errors", []))
    return f"{problem.detail} {details}".strip()


def _warn_unknown_variables(config: Config, serving: bool) -> None:
    for warning in unknown_variables(config.env, {s.env for s in all_settings()}):
        if serving:
            logging.getLogger("mnwd.config").warning(warning)
        else:
            print(f"mnwd: warning: {warning}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = Config.from_env()
        check_settings(config)
    except ConfigError as exc:
        print(f"mnwd: configuration error: {exc}", file=sys.stderr)
        return 2
    serving = args.run is _serve
    if not serving:
        gc.enable()  # off while importing (`mnwd.__main__`); `mnwd serve` turns it on once started
    # Only the daemon logs; a command reports on stdout, and its failure in one line on stderr.
    configure_logging(config.log_level_number if serving else logging.CRITICAL + 1, config.log_format)
    _warn_unknown_variables(config, serving)
    context = CommandContext(
        config=config, open_services=functools.partial(open_all_services, config, share_running=True)
    )
    try:
        asyncio.run(args.run(context, args))
    except (CommandError, MigrationError, DatabaseUnreachable) as exc:
        print(f"mnwd: {exc}", file=sys.stderr)
        return 1
    except Problem as problem:
        print(f"mnwd: {_problem_text(problem)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
