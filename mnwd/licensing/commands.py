"""``mnwd license``: rotate the key that signs offline license files, list the signing keys."""

from __future__ import annotations

import argparse

from mnwd.domain import CommandContext, Subcommands, format_table
from mnwd.licensing import files

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    license = commands.add_parser(
        "license", help="license keys: the keys signing offline license files"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    license.add_parser(
        "rotate-key", help="make a new signing key current; files signed by the old one keep verifying"
    ).set_defaults(run=rotate_key)
    license.add_parser("signing-keys", help="list the signing keys: id, current or retired, created").set_defaults(
        run=list_keys
    )


async def rotate_key(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        kid = await files.rotate_signing_key(services)
    print(f"kid={kid}")


async def list_keys(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        document = await files.public_keys(services)
    rows = [(k["kid"], "current" if k["current"] else "retired", k["created_at"]) for k in document["keys"]]
    print(format_table(("KID", "STATE", "CREATED"), rows))
