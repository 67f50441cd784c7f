"""``mnwd mail``: the operator's suppression list.

mnwd mail suppress ADDRESS [--reason manual|bounce|complaint] [--note TEXT]
mnwd mail unsuppress ADDRESS
mnwd mail suppressions [--limit N]
"""

from __future__ import annotations

import argparse

from mnwd.domain import CommandContext, CommandError, Subcommands, format_table
from mnwd.outbound import suppressions

__all__ = ["add_commands"]

_REASONS = {"manual": "Manual", "bounce": "HardBounce", "complaint": "SpamComplaint"}


def add_commands(commands: Subcommands) -> None:
    mail = commands.add_parser("mail", help="the outbound mail queue's suppression list").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = mail.add_parser("suppress", help="never mail ADDRESS again (until unsuppressed)")
    add.add_argument("address", help="the mail address (any case)")
    add.add_argument("--reason", choices=sorted(_REASONS), default="manual", help="why (default: manual)")
    add.add_argument("--note", default="", help="why, kept with the entry")
    add.set_defaults(run=suppress_address)
    remove = mail.add_parser("unsuppress", help="allow mail to ADDRESS again")
    remove.add_argument("address", help="the mail address (any case)")
    remove.set_defaults(run=unsuppress_address)
    listing = mail.add_parser("suppressions", help="list suppressed addresses, newest first")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    listing.set_defaults(run=list_addresses)


async def suppress_address(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        details = {"source": "cli", **({"note": args.note} if args.note else {})}
        try:
            added = await suppressions.suppress(
                services.pool, args.address, reason=_REASONS[args.reason], details=details
            )
        except ValueError as exc:
            raise CommandError(f"{args.address!r} {exc}") from None
    print(f"{args.address} suppressed." if added else f"{args.address} was already suppressed.")


async def unsuppress_address(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        removed = await suppressions.unsuppress(services.pool, args.address)
    if not removed:
        raise CommandError(f"{args.address} is not suppressed.")
    print(f"{args.address} may be mailed again.")


async def list_addresses(context: CommandContext, args: argparse.Namespace) -> None:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1.")
    async with context.open_services() as services:
        found = await suppressions.list_suppressions(services.pool, args.limit)
    rows = [
        (
            s.email,
            s.reason,
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            str(s.details.get("note") or s.details.get("diagnostic") or ""),
        )
        for s in found
    ]
    print(format_table(("ADDRESS", "REASON", "SINCE", "NOTE"), rows))
