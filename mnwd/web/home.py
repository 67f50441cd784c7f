"""The start page."""

from __future__ import annotations

from aiohttp import web

from mnwd.web.pages import render

__all__ = ["setup_routes"]


async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
