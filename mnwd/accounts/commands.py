"""``mnwd user``: create accounts, suspend and unsuspend them."""

from __future__ import annotations

import argparse
import sys

from mnwd.accounts import operators
from mnwd.domain import CommandContext, CommandError, Subcommands

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    user = commands.add_parser("user", help="manage accounts").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create an account and print its id")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.add_argument("--admin", action="store_true", help="make the account an administrator")
    create.add_argument("--creator", action="store_true", help="let the account create projects")
    create.set_defaults(run=create_user)
    for action, text in (("suspend", "suspend an account and sign it out everywhere"), ("unsuspend", "lift it")):
        parser = user.add_parser(action, help=text)
        parser.add_argument("username")
        parser.set_defaults(run=set_suspended)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-stdin: standard input held no password")
    return password


async def create_user(context: CommandContext, args: argparse.Namespace) -> None:
    password = _read_password() if args.password_stdin else None
    async with context.open_services() as services:
        user_id = await operators.create_account(
            services, args.username, args.email, password, is_admin=args.admin, creator=args.creator
        )
    print(user_id)


async def set_suspended(context: CommandContext, args: argparse.Namespace) -> None:
    suspend = args.action == "suspend"
    async with context.open_services() as services:
        await operators.set_suspended(services, args.username, suspend)
    print(f"{args.username} {'suspended' if suspend else 'unsuspended'}")
