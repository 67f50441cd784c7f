"""The apps domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from mnwd.apps import pages
from mnwd.apps.commands import add_commands
from mnwd.apps.registry import CHANGE_HOOKS
from mnwd.domain import Domain
from mnwd.services import Services

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[CHANGE_HOOKS] = []
    yield


def setup_routes(app: web.Application) -> None:
    pages.setup(app)


DOMAIN = Domain(name="apps", routes=setup_routes, templates=TEMPLATES, commands=add_commands, start=start)
