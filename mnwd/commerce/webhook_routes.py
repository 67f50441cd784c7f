"""``POST /stripe/webhook``: Stripe's events (platform and Connect endpoint alike), see `mnwd.commerce.webhooks`.

Answers 200 ``{"received": true, "outcome": ...}`` (also for a duplicate or an ignored event, so Stripe stops
retrying), 400 ``webhook-signature-invalid`` for a bad or stale signature, 503 when payments are not
configured. The body is read raw (at most `MAX_EVENT_BYTES`) and verified before it is parsed.
"""

from __future__ import annotations

from aiohttp import web

from mnwd.commerce import webhooks
from mnwd.web.body import json_response, read_limited
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES

__all__ = ["MAX_EVENT_BYTES", "setup"]

MAX_EVENT_BYTES = 512 * 1024


@csrf_exempt
async def stripe_webhook(request: web.Request) -> web.Response:
    raw = await read_limited(request, MAX_EVENT_BYTES)
    outcome = await webhooks.receive(request.app[SERVICES], raw, request.headers.get("Stripe-Signature"))
    return json_response({"received": True, "outcome": outcome})


def setup(app: web.Application) -> None:
    app.router.add_post("/stripe/webhook", stripe_webhook)
