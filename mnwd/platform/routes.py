"""The platform's routes: the creator pages (waitlist, invite codes, custom domains, billing), Fan+, the
administration under ``/admin``, and the Host-header middleware that serves verified custom domains.

Template global ``is_fan_plus(request, user_id)`` (async, awaited by Jinja): whether the user is a Fan+ supporter
now. Lower domains' templates may not ask the platform in Python (layers), so they ask in the template, and only
if it is there: ``{% if is_fan_plus is defined and is_fan_plus(request, creator.id) %}`` (the store's profile
page shows the badge so)."""

from __future__ import annotations

import uuid

from aiohttp import web

from mnwd.platform import billing, pages_admin, pages_billing, pages_creators, pages_domains
from mnwd.platform.host_routing import host_middleware
from mnwd.web.keys import SERVICES
from mnwd.web.pages import TEMPLATES

__all__ = ["setup"]


async def is_fan_plus(request: web.Request, user_id: uuid.UUID) -> bool:
    return await billing.is_fan_plus(request.app[SERVICES].pool, user_id)


def setup(app: web.Application) -> None:
    app[TEMPLATES].globals["is_fan_plus"] = is_fan_plus
    pages_creators.setup(app)
    pages_admin.setup(app)
    pages_domains.setup(app)
    pages_billing.setup(app)
    # The innermost middleware: the request's id, problems and CSRF are handled outside it as for any page.
    app.middlewares.append(host_middleware)
