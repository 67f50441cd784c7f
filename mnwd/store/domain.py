"""The store domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from mnwd.domain import Domain, JobKind
from mnwd.services import Services
from mnwd.store import discovery_routes, routes, social_routes
from mnwd.store.deletions import ITEM_DELETION_HOOKS, PROJECT_DELETION_HOOKS
from mnwd.store.files import COLLECT_JOB, collect_file_job
from mnwd.store.notices import RELEASE_MAIL, send_release_mail
from mnwd.store.queries import media as media_queries

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[PROJECT_DELETION_HOOKS] = []
    services[ITEM_DELETION_HOOKS] = []
    yield


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    discovery_routes.setup(app)
    social_routes.setup(app)


DOMAIN = Domain(
    name="store",
    routes=setup_routes,
    templates=TEMPLATES,
    start=start,
    jobs=(JobKind(COLLECT_JOB, collect_file_job), JobKind(RELEASE_MAIL, send_release_mail)),
    blob_references=media_queries.blob_referenced,
)
