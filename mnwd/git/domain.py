"""The git domain as a plug-in of the daemon (`mnwd.domain.Domain`): routes, templates, ``mnwd key``, the
pushed-event subscription (`mnwd.git.events`) and the SSH server as the daemon's listener (`mnwd.git.ssh`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

from mnwd.config import Config
from mnwd.domain import Domain, JobKind, Listener
from mnwd.git import routes, source_routes
from mnwd.git.commands import add_commands
from mnwd.git.events import CHANNEL, PUSH_EVENTS, PushEvents
from mnwd.git.issues import ISSUE_MAIL, send_issue_mail
from mnwd.services import Services

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    source_routes.setup(app)


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    events = PushEvents()
    services[PUSH_EVENTS] = events
    services.listen.subscribe(CHANNEL, events)
    try:
        yield
    finally:
        events.close()


def listeners(services: Services) -> Sequence[Listener]:
    from mnwd.git.ssh import GitSshServer  # asyncssh: loaded by `mnwd serve`, not by every command

    return [GitSshServer(services)]


def ports(config: Config) -> Sequence[tuple[str, int, str]]:
    return [(config.ssh_host, config.ssh_port, "MNWD_SSH_PORT")]


DOMAIN = Domain(
    name="git",
    routes=setup_routes,
    templates=TEMPLATES,
    jobs=(JobKind(ISSUE_MAIL, send_issue_mail),),
    commands=add_commands,
    start=start,
    listeners=listeners,
    ports=ports,
)
