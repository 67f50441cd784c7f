"""The start page: a short welcome, unless a domain offers its own home page (`set_home_page`: the store lists new
and popular items there). The route stays here, so ``/`` is registered once whatever the domains."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mnwd.web.pages import render

__all__ = ["set_home_page", "setup_routes"]

HomeHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOME_PAGE: web.AppKey[HomeHandler] = web.AppKey("home_page")


def set_home_page(app: web.Application, handler: HomeHandler) -> None:
    """Makes ``handler`` answer ``/`` (a domain's ``routes`` calls it while the application is built)."""
    app[HOME_PAGE] = handler


async def home(request: web.Request) -> web.StreamResponse:
    handler = request.app.get(HOME_PAGE)
    if handler is not None:
        response: web.StreamResponse = await handler(request)
        return response
    return await render(request, "home.html")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
