"""Panels other domains add to an app's dashboard page (sync adds its usage figures), so that the apps
domain shows them without depending on those domains."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from markupsafe import Markup

from mnwd.apps.registry import App

__all__ = ["AppPanel", "add_app_panel", "render_panels"]

AppPanel = Callable[[web.Request, App], Awaitable[Markup]]
PANELS = web.AppKey("apps.panels", list[AppPanel])


def add_app_panel(app: web.Application, panel: AppPanel) -> None:
    """Called from a domain's ``routes``: ``panel`` renders its part of every app page, in the order added."""
    if PANELS not in app:
        app[PANELS] = []
    app[PANELS].append(panel)


async def render_panels(request: web.Request, registered: App) -> list[Markup]:
    return [await panel(request, registered) for panel in request.app.get(PANELS, [])]
