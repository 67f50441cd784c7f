"""``mnwd sync``: maintain the sync change log."""

from __future__ import annotations

import argparse

from mnwd.apps import get_app_by_slug
from mnwd.domain import CommandContext, CommandError, Subcommands
from mnwd.sync import compaction
from mnwd.sync.settings import SyncSettings

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    sync = commands.add_parser("sync", help="maintain the sync change log").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    compact = sync.add_parser(
        "compact", help="keep only the newest change per row, drop DELETEs older than MNWD_SYNC_TOMBSTONE_DAYS"
    )
    compact.add_argument("--app", metavar="SLUG", help="only the streams of this app")
    compact.set_defaults(run=compact_log)


async def compact_log(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        app_id = None
        if args.app is not None:
            app = await get_app_by_slug(services.pool, args.app)
            if app is None:
                raise CommandError(f"There is no app with the slug {args.app!r}.")
            app_id = app.id
        report = await compaction.compact(
            services.pool,
            tombstone_days=services.config.section(SyncSettings).tombstone_days,
            app_id=app_id,
            metrics=services.metrics,
        )
    print(report.summary())
