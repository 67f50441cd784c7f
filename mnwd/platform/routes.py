"""The platform's routes: the creator pages (waitlist, invite codes) and the administration under ``/admin``."""

from __future__ import annotations

from aiohttp import web

from mnwd.platform import pages_admin, pages_creators

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    pages_creators.setup(app)
    pages_admin.setup(app)
