"""The store domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.domain import Domain, JobKind
from mnwd.store import discovery_routes, routes, social_routes
from mnwd.store.files import COLLECT_JOB, collect_file_job
from mnwd.store.notices import RELEASE_MAIL, send_release_mail
from mnwd.store.queries import media as media_queries

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    discovery_routes.setup(app)
    social_routes.setup(app)


DOMAIN = Domain(
    name="store",
    routes=setup_routes,
    templates=TEMPLATES,
    jobs=(JobKind(COLLECT_JOB, collect_file_job), JobKind(RELEASE_MAIL, send_release_mail)),
    blob_references=media_queries.blob_referenced,
)
