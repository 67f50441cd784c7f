"""The platform's routes: the creator pages (waitlist, invite codes, custom domains, billing), Fan+, the
administration under ``/admin``, and the Host-header middleware that serves verified custom domains."""

from __future__ import annotations

from aiohttp import web

from mnwd.platform import pages_admin, pages_billing, pages_creators, pages_domains
from mnwd.platform.host_routing import host_middleware

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    pages_creators.setup(app)
    pages_admin.setup(app)
    pages_domains.setup(app)
    pages_billing.setup(app)
    # The innermost middleware: the request's id, problems and CSRF are handled outside it as for any page.
    app.middlewares.append(host_middleware)
