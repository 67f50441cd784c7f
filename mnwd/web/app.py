"""Assembles the aiohttp application from each domain's ``setup_routes``."""

from __future__ import annotations

from aiohttp import web

from mnwd.services import Services
from mnwd.web import health
from mnwd.web.keys import SERVICES
from mnwd.web.middleware import problem_middleware, request_middleware

__all__ = ["SERVICES", "create_app"]

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware, problem_middleware],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[SERVICES] = services
    health.setup_routes(app)
    return app
