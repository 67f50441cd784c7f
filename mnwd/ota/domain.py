"""The OTA domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from mnwd.apps import add_app_panel, on_app_change
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.git import PushedEvent, on_pushed
from mnwd.ota import builds, pages, queries, routes
from mnwd.ota.cache import CACHE, CHANNEL, ReleaseCache
from mnwd.ota.commands import add_commands
from mnwd.ota.settings import OtaSettings
from mnwd.services import Services

__all__ = ["DOMAIN", "flush_check_counts"]

FLUSH_EVERY_SECONDS = 10.0
CATCH_UP_SECONDS = 30.0
TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    cache = ReleaseCache()
    services[CACHE] = cache
    services.listen.subscribe(CHANNEL, cache)
    on_app_change(services, lambda _app_id: cache.forget_apps())

    async def build_on_push(event: PushedEvent) -> None:
        await builds.on_push(services, event)

    on_pushed(services, build_on_push)
    try:
        yield
    finally:
        await cache.flush(services.pool)


async def flush_check_counts(services: Services) -> None:
    await services[CACHE].flush(services.pool)


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    pages.setup(app)
    add_app_panel(app, pages.ota_panel)


DOMAIN = Domain(
    name="ota",
    routes=setup_routes,
    templates=TEMPLATES,
    commands=add_commands,
    settings=OtaSettings,
    start=start,
    jobs=(JobKind(builds.BUILD_JOB, builds.run_build_job, builds.BUILD_ATTEMPTS),),
    periodic=(
        Periodic("ota.check_counts", FLUSH_EVERY_SECONDS, flush_check_counts),
        Periodic("ota.builds.catch_up", CATCH_UP_SECONDS, builds.catch_up),
    ),
    blob_references=queries.blob_referenced,
)
