"""The mailing domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.domain import Domain, JobKind, Periodic
from mnwd.mailing import pages_lists, pages_public, routes
from mnwd.mailing.broadcasts import BROADCAST_JOB, run_broadcast_job
from mnwd.mailing.imports import IMPORT_JOB, expire_stale_imports, run_import_job

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    pages_public.setup(app)
    pages_lists.setup(app)


DOMAIN = Domain(
    name="mailing",
    routes=setup_routes,
    templates=TEMPLATES,
    page_context=pages_lists.page_context,
    periodic=(Periodic("mailing.expire_stale_imports", 3600, expire_stale_imports),),
    jobs=(
        JobKind(IMPORT_JOB, run_import_job),
        JobKind(BROADCAST_JOB, run_broadcast_job, max_attempts=50),
    ),
)
