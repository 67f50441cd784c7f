"""``mnwd app``: list apps, register apps for a creator, rotate their API keys, deactivate and reactivate them."""

from __future__ import annotations

import argparse

from mnwd.apps import operators
from mnwd.domain import CommandContext, Subcommands, format_table

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    app = commands.add_parser("app", help="manage sync apps").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    app.add_parser("list", help="list every app: slug, name, owner, state, created").set_defaults(run=list_apps)
    create = app.add_parser("create", help="register an app and print its client_id and api_key")
    create.add_argument("--owner", required=True, metavar="USERNAME", help="the creator who owns the app")
    create.add_argument("--name", required=True, help="the app's name, shown on the consent page")
    create.add_argument("--slug", required=True, help="its short unique name: lowercase letters, digits, - and _")
    create.add_argument(
        "--redirect-uri",
        required=True,
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help="where OAuth may send the user back (repeatable)",
    )
    create.add_argument("--project", metavar="ID", help="link the app to one of the owner's projects")
    create.add_argument("--item", metavar="ID", help="link the app to one of the owner's items")
    create.set_defaults(run=create_app)
    rotate = app.add_parser("rotate-key", help="give an app a new API key and print it")
    rotate.add_argument("slug", help="the app's slug")
    rotate.set_defaults(run=rotate_key)
    for action, text in (("deactivate", "stop sign-ins and token use of an app"), ("activate", "reactivate it")):
        parser = app.add_parser(action, help=text)
        parser.add_argument("slug", help="the app's slug")
        parser.set_defaults(run=set_active)


async def list_apps(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        found = await operators.list_apps(services)
    rows = [
        (
            d.app.slug,
            d.app.name,
            d.app.creator_username,
            "active" if d.app.is_active else "deactivated",
            d.created_at.strftime("%Y-%m-%d"),
            str(d.app.id),
        )
        for d in found
    ]
    print(format_table(("SLUG", "NAME", "OWNER", "STATE", "CREATED", "CLIENT ID"), rows))


async def create_app(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
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


async def rotate_key(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        issued = await operators.rotate_key(services, args.slug)
    print(f"api_key={issued.api_key}")


async def set_active(context: CommandContext, args: argparse.Namespace) -> None:
    async with context.open_services() as services:
        app = await operators.set_app_active(services, args.slug, args.action == "activate")
    print(f"{app.slug} {'activated' if app.is_active else 'deactivated'}")
