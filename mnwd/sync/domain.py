"""The sync domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from markupsafe import Markup

from mnwd.apps import App, add_app_panel
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.oauth import has_heard_of_bearer_epoch, on_bearers_forgotten
from mnwd.services import Services
from mnwd.sync import dashboard, queries
from mnwd.sync.blobs import COLLECT_JOB, UPLOADS, UploadReservations, collect_blob_job
from mnwd.sync.changes import WAITING_PUSHES, WaitingPushes
from mnwd.sync.commands import add_commands
from mnwd.sync.compaction import CompactionReport, compact
from mnwd.sync.notifier import CHANNEL, NOTIFIER, ChangeNotifier
from mnwd.sync.readahead import READAHEAD, ReadAhead
from mnwd.sync.routes import TEMPLATES, setup_routes
from mnwd.sync.settings import SyncSettings
from mnwd.sync.stats import SYNC_METRICS, SyncMetrics
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render_fragment

__all__ = ["DOMAIN", "compact_sync_log"]

log = logging.getLogger(__name__)

# Compaction reads every stream; retention is counted in days, so a few runs a day are plenty.
COMPACTION_EVERY_SECONDS = 6 * 3600.0


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services.config.section(SyncSettings)
    notifier = ChangeNotifier(
        send=functools.partial(services.listen.notify, CHANNEL),
        read_heads=functools.partial(queries.list_stream_heads, services.pool),
        has_heard_of=functools.partial(has_heard_of_bearer_epoch, services),
        alone=lambda: services.listen.alone,
    )
    services[NOTIFIER] = notifier
    services.listen.subscribe(CHANNEL, notifier)
    on_bearers_forgotten(services, notifier.wake_all)
    readahead = ReadAhead(clock=services.clock)
    services[READAHEAD] = readahead
    services[SYNC_METRICS] = SyncMetrics(services.metrics.registry)
    services[UPLOADS] = UploadReservations()
    services[WAITING_PUSHES] = WaitingPushes()
    rechecks = asyncio.get_running_loop().create_task(notifier.run(), name="sync.poke-recheck")
    try:
        yield
    finally:
        rechecks.cancel()
        notifier.close()
        readahead.close()


async def compact_sync_log(services: Services) -> CompactionReport:
    tombstone_days = services.config.section(SyncSettings).tombstone_days
    report = await compact(services.pool, tombstone_days=tombstone_days, metrics=services.metrics)
    if report.deleted:
        log.info(report.summary(), extra={"streams": report.streams, "deleted": report.deleted})
    return report


async def usage_panel(request: web.Request, app: App) -> Markup:
    stats = await dashboard.get_app_stats(request.app[SERVICES].pool, app.id)
    return await render_fragment(request, "sync/app_stats.html", {"stats": stats})


def routes(app: web.Application) -> None:
    setup_routes(app)
    add_app_panel(app, usage_panel)


DOMAIN = Domain(
    name="sync",
    routes=routes,
    templates=TEMPLATES,
    commands=add_commands,
    settings=SyncSettings,
    start=start,
    periodic=(Periodic("sync.compaction", COMPACTION_EVERY_SECONDS, compact_sync_log),),
    jobs=(JobKind(COLLECT_JOB, collect_blob_job),),
    sql=Path(__file__).resolve().parent / "sql",
    blob_references=queries.blob_referenced,
)
