"""The git domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.domain import Domain
from mnwd.git import routes, source_routes
from mnwd.git.commands import add_commands

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    source_routes.setup(app)


DOMAIN = Domain(name="git", routes=setup_routes, templates=TEMPLATES, commands=add_commands)
