"""Pages and endpoints of outbound mail (no session needed for any):

- ``GET /mail/unsubscribe/{token}``: a page naming the notifications the link stops, with a button; changes
  nothing (mail scanners and link previews follow links).
- ``POST /mail/unsubscribe/{token}``: turns that kind off and says so. It is also the RFC 8058 one-click
  target (a mail client POSTs ``List-Unsubscribe=One-Click``), so it is CSRF-exempt: the signed token is the
  authority, and it can only turn one kind of mail off for its own user.
- ``POST /mail/webhook``: bounce and complaint reports, ``Authorization: Bearer <MNWD_MAIL_WEBHOOK_SECRET>``;
  answers ``{"suppressed": n, "already": n, "ignored": n}``. 404 while no secret is set, 401 for a wrong
  one, 400 for a malformed body (nothing applied).
"""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from mnwd.errors import BadRequest, NotFound, Unauthorized
from mnwd.outbound import notifications, suppressions
from mnwd.outbound.bounces import parse_webhook
from mnwd.outbound.settings import OutboundSettings
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render

__all__ = ["setup_routes"]

MAX_WEBHOOK_BYTES = 1024 * 1024


def _checked(request: web.Request) -> notifications.Unsubscribe:
    found = notifications.check_unsubscribe_token(request.app[SERVICES], request.match_info["token"])
    if found is None:
        raise NotFound("This unsubscribe link is not valid. Copy the whole link from the mail.")
    return found


async def unsubscribe_page(request: web.Request) -> web.Response:
    found = _checked(request)
    return await render(request, "outbound/unsubscribe.html", {"found": found, "done": False})


@csrf_exempt
async def unsubscribe(request: web.Request) -> web.Response:
    found = _checked(request)
    await notifications.unsubscribe(request.app[SERVICES], found)
    return await render(request, "outbound/unsubscribe.html", {"found": found, "done": True})


@csrf_exempt
async def webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    secret = services.config.section(OutboundSettings).webhook_secret
    if secret is None:
        raise NotFound("The mail webhook is off: set MNWD_MAIL_WEBHOOK_SECRET.")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
        raise Unauthorized("Send Authorization: Bearer <MNWD_MAIL_WEBHOOK_SECRET>.")
    body = await read_json(request, dict[str, Any], max_bytes=MAX_WEBHOOK_BYTES)
    try:
        events = parse_webhook(body)
    except ValueError as exc:
        raise BadRequest(f"The report is not valid: {exc}.") from None
    counts = await suppressions.apply_events(services.pool, events, source="webhook")
    return json_response({"suppressed": counts.suppressed, "already": counts.already, "ignored": counts.ignored})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/mail/unsubscribe/{token}", unsubscribe_page)
    app.router.add_post("/mail/unsubscribe/{token}", unsubscribe)
    app.router.add_post("/mail/webhook", webhook)
