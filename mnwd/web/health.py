"""``/healthz`` (the process answers), ``/readyz`` (database and migrations) and Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mnwd.db.migrations import MigrationError, migration_status
from mnwd.errors import Forbidden, ServiceUnavailable, Unauthorized
from mnwd.web.body import json_response
from mnwd.web.client_address import client_address
from mnwd.web.keys import SERVICES

__all__ = ["setup_routes"]

READY_TIMEOUT = 2.0
READY_RETRY_AFTER = 5
# A reverse proxy on the same host connects from loopback: a request it forwarded is not a local one.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            async with services.pool.acquire() as conn:
                status = await migration_status(conn, services.migrations, functions=services.functions)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError) as exc:
        raise ServiceUnavailable(
            f"The database is not reachable: {type(exc).__name__}.", retry_after=READY_RETRY_AFTER, database="down"
        ) from None
    except MigrationError as exc:
        raise ServiceUnavailable(str(exc), database="ok", migrations="mismatch") from None
    if status.pending:
        pending = [m.filename for m in status.pending]
        raise ServiceUnavailable(
            f"{len(pending)} migration(s) not applied yet.", database="ok", migrations="pending", pending=pending
        )
    if status.pending_functions:
        stale = [f.filename for f in status.pending_functions]
        raise ServiceUnavailable(
            f"{len(stale)} SQL function file(s) not applied yet.",
            database="ok",
            migrations="pending",
            pending_functions=stale,
        )
    return json_response({"status": "ready", "database": "ok", "migrations": len(status.applied)})


def _is_loopback(request: web.Request) -> bool:
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        remote = client_address(request)
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False  # a Unix socket or an unparsable peer


def check_metrics_access(request: web.Request) -> None:
    """With ``MNWD_METRICS_TOKEN`` set, ``Authorization: Bearer <token>``; without it, loopback clients only."""
    token = request.app[SERVICES].config.metrics_token
    if token is None:
        if not _is_loopback(request):
            raise Forbidden("/metrics answers only local clients; set MNWD_METRICS_TOKEN to scrape it from afar.")
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        problem = Unauthorized("/metrics needs Authorization: Bearer <MNWD_METRICS_TOKEN>.")
        problem.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        raise problem


async def metrics(request: web.Request) -> web.Response:
    check_metrics_access(request)
    registry = request.app[SERVICES].metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
