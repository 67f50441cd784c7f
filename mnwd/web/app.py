"""Assembles the aiohttp application from each domain's ``setup_routes``."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import routes as accounts
from mnwd.accounts.forms import page_context
from mnwd.accounts.middleware import cookie_middleware, csrf_middleware
from mnwd.oauth import routes as oauth
from mnwd.services import Services
from mnwd.sync import routes as sync
from mnwd.web import health, home
from mnwd.web.keys import SERVICES
from mnwd.web.middleware import problem_middleware, request_middleware
from mnwd.web.pages import setup_pages

__all__ = ["SERVICES", "create_app"]

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware, cookie_middleware, problem_middleware, csrf_middleware],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[SERVICES] = services
    setup_pages(app, [accounts.TEMPLATES, oauth.TEMPLATES, sync.TEMPLATES], [page_context])
    health.setup_routes(app)
    home.setup_routes(app)
    accounts.setup_routes(app)
    sync.setup_routes(app)
    oauth.setup_routes(app)
    return app
