"""The ``mnwd`` command: ``serve``, ``migrate``, ``db-url``, ``config``, ``user``, ``app``, ``sync``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from mnwd.config import SETTINGS, Config, ConfigError
from mnwd.db.embedded import running_url
from mnwd.db.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    load_functions,
    load_migrations,
    migration_status,
)
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
    user = commands.add_parser("user", help="manage accounts").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create an account and print its id")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.add_argument("--admin", action="store_true", help="make the account an administrator")
    create.add_argument("--creator", action="store_true", help="let the account create projects")
    for action, text in (("suspend", "suspend an account and sign it out everywhere"), ("unsuspend", "lift it")):
        user.add_parser(action, help=text).add_argument("username")
    app = commands.add_parser("app", help="manage sync apps").add_subparsers(dest="action", required=True)
    app_create = app.add_parser("create", help="register an app and print its client_id and api_key")
    app_create.add_argument("--owner", required=True, metavar="USERNAME", help="the creator who owns the app")
    app_create.add_argument("--name", required=True)
    app_create.add_argument("--slug", required=True)
    app_create.add_argument(
        "--redirect-uri", required=True, action="append", dest="redirect_uris", metavar="URI", help="repeatable"
    )
    app_create.add_argument("--project", metavar="ID", help="link the app to one of the owner's projects")
    app_create.add_argument("--item", metavar="ID", help="link the app to one of the owner's items")
    app.add_parser("rotate-key", help="give an app a new API key and print it").add_argument("slug")
    for action, text in (("deactivate", "stop sign-ins and token use of an app"), ("activate", "reactivate it")):
        app.add_parser(action, help=text).add_argument("slug")
    sync = commands.add_parser("sync", help="maintain the sync change log").add_subparsers(dest="action", required=True)
    compact = sync.add_parser(
        "compact", help="keep only the newest change per row, drop DELETEs older than MNWD_SYNC_TOMBSTONE_DAYS"
    )
    compact.add_argument("--app", metavar="SLUG", help="only the streams of this app")
    commands.add_parser("config", help="print every setting and its current value")
    return parser


async def _migrate(config: Config, status_only: bool) -> None:
    from mnwd.services import FUNCTION_DIRS, open_database

    migrations = load_migrations(config.migrations_dir)
    functions = load_functions(FUNCTION_DIRS)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_database(config) as url:
        conn = await asyncpg.connect(url)
        try:
            if status_only:
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


def _db_url(config: Config) -> None:
    if config.database_url is not None:
        print(config.database_url)
        return
    url = running_url(config.pg_dir)
    if url is None:
        raise CommandError(f"the embedded PostgreSQL in {config.pg_dir} is not running; start it with `mnwd serve`")
    print(url)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-stdin: standard input held no password")
    return password


async def _user(config: Config, args: argparse.Namespace, password: str | None) -> None:
    from mnwd.accounts import operators
    from mnwd.errors import Problem
    from mnwd.services import open_services

    async with open_services(config) as services:
        try:
            if args.action == "create":
                user_id = await operators.create_account(
                    services, args.username, args.email, password, is_admin=args.admin, creator=args.creator
                )
                print(user_id)
            else:
                await operators.set_suspended(services, args.username, args.action == "suspend")
                print(f"{args.username} {'suspended' if args.action == 'suspend' else 'unsuspended'}")
        except Problem as problem:
            details = "; ".join(f"{e['field']}: {e['message']}" for e in problem.extra.get("errors", []))
            raise CommandError(f"{problem.detail} {details}".strip()) from None


async def _app(config: Config, args: argparse.Namespace) -> None:
    from mnwd.errors import Problem
    from mnwd.services import open_services
    from mnwd.sync import operators

    async with open_services(config) as services:
        try:
            if args.action == "create":
                issued = await operators.create_app_for(
                    services,
                    args.owner,
                    name=args.name,
                    slug=args.slug,
                    redirect_uris=args.redirect_uris,
                    project_id=args.project,
                    item_id=args.item,
                )
                print(f"client_id={issued.app.id}\napi_key={issued.api_key}")
            elif args.action == "rotate-key":
                issued = await operators.rotate_key(services, args.slug)
                print(f"api_key={issued.api_key}")
            else:
                app = await operators.set_app_active(services, args.slug, args.action == "activate")
                print(f"{app.slug} {'activated' if app.is_active else 'deactivated'}")
        except Problem as problem:
            details = "; ".join(f"{e['field']}: {e['message']}" for e in problem.extra.get("errors", []))
            raise CommandError(f"{problem.detail} {details}".strip()) from None


async def _sync(config: Config, args: argparse.Namespace) -> None:
    from mnwd.services import open_services
    from mnwd.sync import apps, compaction

    async with open_services(config) as services:
        app_id = None
        if args.app is not None:
            app = await apps.get_app_by_slug(services.pool, args.app)
            if app is None:
                raise CommandError(f"There is no app with the slug {args.app!r}.")
            app_id = app.id
        report = await compaction.compact(
            services.pool, tombstone_days=config.sync_tombstone_days, app_id=app_id, metrics=services.metrics
        )
    print(report.summary())


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
        elif args.command == "user":
            password = _read_password() if getattr(args, "password_stdin", False) else None
            asyncio.run(_user(config, args, password))
        elif args.command == "app":
            asyncio.run(_app(config, args))
        elif args.command == "sync":
            asyncio.run(_sync(config, args))
    except (CommandError, MigrationError) as exc:
        print(f"mnwd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
