"""``mnwd key``: add an SSH key to an account (read from standard input) and list an account's keys."""

from __future__ import annotations

import argparse
import sys

from mnwd.domain import CommandContext, CommandError, Subcommands, format_table
from mnwd.git import keys

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    key = commands.add_parser("key", help="manage a user's SSH keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = key.add_parser("add", help="add an SSH public key (read from standard input) to an account")
    add.add_argument("username", help="the account the key lets in")
    add.add_argument("--name", default="", help="what the key is, e.g. 'laptop' (default: the key's comment)")
    add.set_defaults(run=add_key)
    listing = key.add_parser("list", help="list an account's SSH keys with their fingerprints")
    listing.add_argument("username", help="the account whose keys to list")
    listing.set_defaults(run=list_keys)


async def add_key(context: CommandContext, args: argparse.Namespace) -> None:
    text = sys.stdin.read(keys.MAX_KEY_CHARS + 1)
    keys.parse_public_key(text)  # a bad key is refused before the database is opened
    async with context.open_services() as services:
        user_id = await keys.user_id_by_name(services, args.username)
        if user_id is None:
            raise CommandError(f"there is no user {args.username!r}")
        key = await keys.add_key(services, user_id, text, args.name)
    print(f"{key.fingerprint} added to {args.username} as {key.title!r}")


async def list_keys(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        user_id = await keys.user_id_by_name(services, args.username)
        if user_id is None:
            raise CommandError(f"there is no user {args.username!r}")
        found = await keys.list_keys(services, user_id)
    rows = [
        (
            str(k.id),
            k.title,
            k.fingerprint,
            k.created_at.strftime("%Y-%m-%d"),
            "never" if k.last_used_at is None else k.last_used_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
        for k in found
    ]
    print(format_table(("ID", "NAME", "FINGERPRINT", "ADDED", "LAST USED"), rows))
