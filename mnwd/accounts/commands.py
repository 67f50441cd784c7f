"""``mnwd user``: create, list, suspend and unsuspend accounts, set passwords, grant and revoke roles;
``mnwd token``: a user's personal access tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

from mnwd.accounts import operators
from mnwd.accounts.token_scopes import TOKEN_SCOPES
from mnwd.domain import CommandContext, CommandError, Subcommands, format_table

__all__ = ["add_commands"]

PASSWORD_STDIN_HELP = "read the password from standard input (a prompt without echo on a terminal)"


def add_commands(commands: Subcommands) -> None:
    _add_user_commands(commands)
    _add_token_commands(commands)


def _add_user_commands(commands: Subcommands) -> None:
    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = user.add_parser("create", help="create an account and print its id")
    create.add_argument("--username", required=True, help="the new account's username")
    create.add_argument("--email", required=True, help="its email address (taken as verified)")
    create.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN_HELP)
    create.add_argument("--admin", action="store_true", help="make the account an administrator")
    create.add_argument("--creator", action="store_true", help="let the account create projects")
    create.set_defaults(run=create_user)
    user.add_parser("list", help="list every account with its roles and state").set_defaults(run=list_users)
    for action, text in (("suspend", "suspend an account and sign it out everywhere"), ("unsuspend", "lift it")):
        parser = user.add_parser(action, help=text)
        parser.add_argument("username", help="the account's username")
        parser.set_defaults(run=set_suspended)
    password = user.add_parser("set-password", help="set an account's password and sign it out everywhere")
    password.add_argument("username", help="the account's username")
    password.add_argument("--password-stdin", action="store_true", required=True, help=PASSWORD_STDIN_HELP)
    password.set_defaults(run=set_password)
    for action, text in (("grant", "give an account a role"), ("revoke", "take a role from an account")):
        parser = user.add_parser(action, help=text)
        parser.add_argument("username", help="the account's username")
        parser.add_argument(
            "role", choices=operators.ROLES, help="creator (may create projects and apps) or admin (administrator)"
        )
        parser.set_defaults(run=set_role)


def _add_token_commands(commands: Subcommands) -> None:
    token = commands.add_parser("token", help="manage a user's personal access tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = token.add_parser("create", help="create a personal access token and print it once")
    create.add_argument("username", help="the user the token acts as")
    create.add_argument("--name", required=True, help="what the token is for, e.g. 'backup script'")
    create.add_argument(
        "--scope",
        action="extend",
        nargs="+",
        dest="scopes",
        metavar="SCOPE",
        choices=tuple(TOKEN_SCOPES),
        help=f"what it may do (one or more, repeatable; default user:read): {', '.join(TOKEN_SCOPES)}",
    )
    create.add_argument("--expires", type=int, metavar="DAYS", help="days until it expires (default: never)")
    create.set_defaults(run=create_token)
    listing = token.add_parser("list", help="list a user's tokens that are not revoked")
    listing.add_argument("username", help="the user whose tokens to list")
    listing.set_defaults(run=list_tokens)
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("username", help="the user the token belongs to")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="the token's id, as `mnwd token list` shows it")
    revoke.set_defaults(run=revoke_token)


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            raise CommandError("the two passwords differ; nothing was changed")
    else:
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


async def list_users(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        users = await operators.list_accounts(services)
    rows = [
        (
            u.username,
            u.email + ("" if u.email_verified else " (unverified)"),
            ",".join(u.roles) or "-",
            "yes" if u.two_factor else "no",
            "suspended" if u.suspended_at else "active",
            u.created_at.strftime("%Y-%m-%d"),
        )
        for u in users
    ]
    print(format_table(("USERNAME", "EMAIL", "ROLES", "2FA", "STATE", "CREATED"), rows))


async def set_suspended(context: CommandContext, args: argparse.Namespace) -> None:
    suspend = args.action == "suspend"
    async with context.open_services() as services:
        await operators.set_suspended(services, args.username, suspend)
    print(f"{args.username} {'suspended' if suspend else 'unsuspended'}")


async def set_password(context: CommandContext, args: argparse.Namespace) -> None:
    password = _read_password()
    async with context.open_services() as services:
        await operators.set_password(services, args.username, password)
    print(f"{args.username}: password set; every session signed out")


async def set_role(context: CommandContext, args: argparse.Namespace) -> None:
    granted = args.action == "grant"
    async with context.open_services() as services:
        await operators.set_role(services, args.username, args.role, granted)
    print(f"{args.username}: {args.role} {'granted' if granted else 'revoked'}")


async def create_token(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        issued = await operators.create_token_for(
            services, args.username, name=args.name, scopes=args.scopes or ["user:read"], expires_days=args.expires
        )
    print(f"id={issued.token.id}\ntoken={issued.secret}")


async def list_tokens(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        tokens = await operators.list_tokens_of(services, args.username)
    rows = [(str(t.id), t.name, ",".join(t.scopes), _when(t.expires_at), _when(t.last_used_at)) for t in tokens]
    print(format_table(("ID", "NAME", "SCOPES", "EXPIRES", "LAST USED"), rows))


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


async def revoke_token(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        await operators.revoke_token_of(services, args.username, args.token_id)
    print(f"token {args.token_id} revoked")
