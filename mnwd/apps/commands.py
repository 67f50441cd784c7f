"""``mnwd app``: register apps for a creator, rotate their API keys, deactivate and reactivate them."""

from __future__ import annotations

import argparse

from mnwd.apps import operators
from mnwd.domain import CommandContext, Subcommands

__all__ = ["add_commands"]


def add_commands(commands: Subcommands) -> None:
    app = commands.add_parser("app", help="manage sync apps").add_subparsers(dest="action", required=True)
    create = app.add_parser("create", help="register an app and print its client_id and api_key")
    create.add_argument("--owner", required=True, metavar="USERNAME", help="the creator who owns the app")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", required=True)
    create.add_argument(
        "--redirect-uri", required=True, action="append", dest="redirect_uris", metavar="URI", help="repeatable"
    )
    create.add_argument("--project", metavar="ID", help="link the app to one of the owner's projects")
    create.add_argument("--item", metavar="ID", help="link the app to one of the owner's items")
    create.set_defaults(run=create_app)
    rotate = app.add_parser("rotate-key", help="give an app a new API key and print it")
    rotate.add_argument("slug")
    rotate.set_defaults(run=rotate_key)
    for action, text in (("deactivate", "stop sign-ins and token use of an app"), ("activate", "reactivate it")):
        parser = app.add_parser(action, help=text)
        parser.add_argument("slug")
        parser.set_defaults(run=set_active)


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
