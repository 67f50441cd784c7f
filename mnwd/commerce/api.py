"""The JSON API of buying (session cookie with CSRF header, or a personal access token):

- ``POST /api/v1/checkout`` ``{item_id | tier_id, amount_cents?, promo_code?}`` (scope ``purchases:write``)
  → 201 ``{checkout_url, transaction_id}`` (or ``subscription_id`` for a tier): open ``checkout_url`` to
  pay. ``amount_cents`` is only for pay-what-you-want items; the price is never the client's.
- ``GET /api/v1/purchases`` (scope ``purchases:read``) → ``{purchases: [...], subscriptions: [...]}``.
- ``GET /api/v1/purchases/{transaction_id}`` (``purchases:read``): one of the caller's purchases (404 for
  anyone else's).
"""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from mnwd.commerce import checkout, storefront
from mnwd.commerce.checkout import Buyer
from mnwd.commerce.connect import get_seller
from mnwd.errors import ValidationFailed
from mnwd.oauth import require_api_user
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
from mnwd.web.params import uuid_param

__all__ = ["setup"]


class CheckoutBody(msgspec.Struct, forbid_unknown_fields=True):
    item_id: uuid.UUID | None = None
    tier_id: uuid.UUID | None = None
    amount_cents: int | None = None
    promo_code: str | None = msgspec.field(default=None)


@csrf_exempt
async def start_checkout(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="purchases:write")
    body = await read_json(request, CheckoutBody, max_bytes=4096)
    if (body.item_id is None) == (body.tier_id is None):
        raise ValidationFailed(
            "Give item_id or tier_id.", errors=[{"field": "item_id", "message": "One of item_id and tier_id."}]
        )
    if body.promo_code is not None and len(body.promo_code) > 64:
        raise ValidationFailed(
            "The promo code is too long.", errors=[{"field": "promo_code", "message": "At most 64."}]
        )
    services = request.app[SERVICES]
    buyer_row = await get_seller(services, caller.user_id)
    buyer = Buyer(caller.user_id, buyer_row["email"])
    if body.item_id is not None:
        started = await checkout.checkout_item(
            services, buyer, body.item_id, amount_cents=body.amount_cents, promo_code=body.promo_code
        )
    else:
        assert body.tier_id is not None
        if body.amount_cents is not None:
            raise ValidationFailed(
                "A tier's price is set by the creator.",
                errors=[{"field": "amount_cents", "message": "Not for subscriptions."}],
            )
        started = await checkout.checkout_tier(services, buyer, body.tier_id, promo_code=body.promo_code)
    return json_response(started.as_json(), status=201)


@csrf_exempt
async def list_purchases(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="purchases:read")
    return json_response(await storefront.purchases_json(request.app[SERVICES], caller.user_id))


@csrf_exempt
async def get_purchase(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="purchases:read")
    transaction_id = uuid_param(request, "transaction_id", "There is no such purchase.")
    row = await storefront.purchase_of(request.app[SERVICES], caller.user_id, transaction_id)
    return json_response(storefront.purchase_json(row))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/checkout", start_checkout)
    app.router.add_get("/api/v1/purchases", list_purchases)
    app.router.add_get("/api/v1/purchases/{transaction_id}", get_purchase)
