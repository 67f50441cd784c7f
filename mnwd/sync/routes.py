"""Every page and endpoint of the sync domain."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.sync import api, pages_devices

__all__ = ["TEMPLATES", "setup_routes"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def setup_routes(app: web.Application) -> None:
    pages_devices.setup(app)
    api.setup(app)
