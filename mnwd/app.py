"""Assembles the aiohttp application: the base's middlewares and pages, then each domain's routes."""

from __future__ import annotations

from aiohttp import web

from mnwd.domains import DOMAINS
from mnwd.services import Services
from mnwd.web import health, home
from mnwd.web.browser import cookie_middleware
from mnwd.web.csrf import csrf_context, csrf_middleware
from mnwd.web.keys import SERVICES
from mnwd.web.middleware import DB_OUTAGE, DatabaseOutage, problem_middleware, request_middleware, security_headers
from mnwd.web.pages import setup_pages

__all__ = ["SERVICES", "build_app", "create_app", "route_table"]

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(services: Services) -> web.Application:
    app = build_app()
    app[SERVICES] = services
    return app


def build_app() -> web.Application:
    """The application without its services: every route, page and middleware (``mnwd routes`` reads it)."""
    app = web.Application(
        middlewares=[request_middleware, cookie_middleware, problem_middleware, csrf_middleware],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app.on_response_prepare.append(security_headers)
    app[DB_OUTAGE] = DatabaseOutage()
    setup_pages(
        app,
        [d.templates for d in DOMAINS if d.templates is not None],
        [csrf_context, *(d.page_context for d in DOMAINS if d.page_context is not None)],
    )
    health.setup_routes(app)
    home.setup_routes(app)
    for domain in DOMAINS:
        if domain.routes is not None:
            domain.routes(app)
    return app


def route_table(app: web.Application) -> list[tuple[str, str, str]]:
    """(method, path, handler as ``module.function``) of every route, in the order they were added."""
    table = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("formatter") or info.get("path") or info.get("prefix", "?"))
        handler = route.handler
        name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', type(handler).__name__)}"
        table.append((route.method, path, name))
    return table
