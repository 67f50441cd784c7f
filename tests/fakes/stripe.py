"""A fake Stripe that keeps state and misbehaves on purpose: the part of Stripe's API that mnwd calls, served by
aiohttp on a loopback port, for the real ``stripe`` library pointed at it (``MNWD_STRIPE_API_BASE``).

API (form-encoded like Stripe's, ``Stripe-Account`` selects the connected account, ``Authorization: Bearer``
must carry the fake's secret key): ``/v1/accounts``, ``/v1/account_links``, ``/v1/products``, ``/v1/prices``,
``/v1/checkout/sessions`` (create, retrieve, ``/expire``), ``/v1/refunds``, ``/v1/subscriptions/{id}`` (retrieve,
update, cancel: a cancelled one answers 404 like Stripe), ``/v1/billing_portal/sessions``.

Pages a browser can use (what Stripe hosts): ``/connect/onboard/{acct}`` (a "Finish onboarding" button),
``/pay/{session}`` (the hosted Checkout page: a "Pay" button), ``/portal/{id}`` (the billing portal: "Cancel
subscription").

Events are signed with ``stripe.WebhookSignature.generate_signature_header`` and POSTed to ``webhook_url``
in background tasks (``await fake.settle()`` waits for them). Switches: ``duplicate`` (each event sent that
many times, concurrently), ``reorder`` (events of one action sent last first), ``delay`` (seconds before each
delivery), ``hold`` (keep events until ``await fake.release()``), ``failures`` (``{"DELETE /v1/subscriptions": 2}``:
the next 2 requests whose method and path start so answer 500 ``api_error``, marked not to be retried by the
library, after being recorded in ``requests``). Test helpers stand in for what happens at
Stripe outside our calls: ``pay`` (what the Pay button does), ``renew``, ``dispute``, ``close_dispute``.
"""

from __future__ import annotations

import asyncio
import copy
import html
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import stripe
from aiohttp import web

__all__ = ["FakeStripe", "decode_form"]

PERIOD_SECONDS = {"month": 30 * 86400, "year": 365 * 86400}
_KEY_PART = re.compile(r"\[([^\]]*)\]")


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket encoding (``line_items[0][price_data][unit_amount]=5``) back into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node: Any = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {k: _lists(v) for k, v in node.items()}
        if fixed and all(k.isdigit() for k in fixed):
            return [fixed[k] for k in sorted(fixed, key=int)]
        return fixed
    return node


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def _page(title: str, body: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto}button{font-size:1.2em;padding:.5em 2em;"
        "background:#635bff;color:#fff;border:0;border-radius:6px}</style></head>"
        f"<body><p><b>Fake Stripe</b> (test mode)</p><h1>{html.escape(title)}</h1>{body}</body></html>",
        content_type="text/html",
    )


class FakeStripe:
    def __init__(self, *, secret_key: str = "sk_test_fake", webhook_secret: str = "whsec_fake") -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        self.url = ""
        self.duplicate = 1
        self.reorder = False
        self.delay = 0.0
        self.hold = False
        self.pay_as = "paid"  # or "unpaid": a delayed payment method (async_payment_succeeded|failed later)
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[tuple[str, str, int]] = []
        self.requests: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.failures: dict[str, int] = {}
        self._held: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> FakeStripe:
        app = web.Application()
        app.router.add_post("/v1/accounts", self._create_account)
        app.router.add_get("/v1/accounts/{id}", self._retrieve)
        app.router.add_post("/v1/account_links", self._create_account_link)
        app.router.add_post("/v1/products", self._create_product)
        app.router.add_post("/v1/prices", self._create_price)
        app.router.add_post("/v1/coupons", self._create_coupon)
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self._expire_session)
        app.router.add_post("/v1/refunds", self._create_refund)
        app.router.add_get("/v1/subscriptions/{id}", self._retrieve)
        app.router.add_post("/v1/subscriptions/{id}", self._update_subscription)
        app.router.add_delete("/v1/subscriptions/{id}", self._cancel_subscription)
        app.router.add_post("/v1/billing_portal/sessions", self._create_portal)
        app.router.add_get("/connect/onboard/{id}", self._onboard_page)
        app.router.add_post("/connect/onboard/{id}", self._onboard_submit)
        app.router.add_get("/pay/{id}", self._pay_page)
        app.router.add_post("/pay/{id}", self._pay_submit)
        app.router.add_get("/portal/{id}", self._portal_page)
        app.router.add_post("/portal/{id}", self._portal_submit)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        await self.settle()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- events ------------------------------------------------------------------------------------------

    def event(self, kind: str, obj: dict[str, Any], account: str | None, *, created: int | None = None) -> str:
        """Record an event with a snapshot of ``obj`` (as Stripe does) and deliver it per the switches."""
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "type": kind,
            "created": created if created is not None else int(time.time()),
            "livemode": False,
            "account": account,
            "pending_webhooks": 1,
            "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        return orjson.dumps(event).decode()

    def send(self, payloads: list[str]) -> None:
        """Deliver the payloads of one action, honouring ``reorder``, ``duplicate``, ``delay`` and ``hold``."""
        ordered = list(reversed(payloads)) if self.reorder else payloads
        for payload in ordered:
            for _ in range(self.duplicate):
                if self.hold:
                    self._held.append(payload)
                else:
                    self._spawn(self.deliver(payload, delay=self.delay))

    async def release(self) -> None:
        held, self._held = self._held, []
        for payload in reversed(held) if self.reorder else held:
            self._spawn(self.deliver(payload))
        await self.settle()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def deliver(
        self, payload: str, *, delay: float = 0.0, secret: str | None = None, timestamp: int | None = None
    ) -> int:
        """POST one event to ``webhook_url``, signed (with ``secret``/``timestamp`` to test bad signatures)."""
        if delay:
            await asyncio.sleep(delay)
        assert self.webhook_url is not None, "set fake.webhook_url first"
        assert self._http is not None, "start the fake first"
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret, timestamp=timestamp
        )
        async with self._http.post(
            self.webhook_url,
            data=payload.encode(),
            headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
        ) as response:
            await response.read()
            status = response.status
        self.deliveries.append((orjson.loads(payload)["type"], orjson.loads(payload)["id"], status))
        return status

    # -- API plumbing ------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            raise web.HTTPUnauthorized(
                text=orjson.dumps({"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}).decode(),
                content_type="application/json",
            )
        pairs = list((await request.post()).items()) if request.method == "POST" else list(request.query.items())
        params = decode_form([(k, str(v)) for k, v in pairs])
        account = request.headers.get("Stripe-Account")
        self.requests.append((request.method, request.path, account, params))
        for prefix, left in self.failures.items():
            if left > 0 and f"{request.method} {request.path}".startswith(prefix):
                self.failures[prefix] = left - 1
                raise web.HTTPInternalServerError(
                    text=orjson.dumps(
                        {"error": {"type": "api_error", "message": "Stripe is having a bad day"}}
                    ).decode(),
                    content_type="application/json",
                    headers={"Stripe-Should-Retry": "false"},
                )
        return params, account

    def _store(self, obj: dict[str, Any], account: str | None) -> dict[str, Any]:
        obj["_account"] = account
        self.objects[obj["id"]] = obj
        return obj

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _json(self, obj: dict[str, Any]) -> web.Response:
        return web.json_response(self._public(obj))

    def _get(self, object_id: str, account: str | None) -> dict[str, Any] | None:
        obj = self.objects.get(object_id)
        if obj is None or (obj["object"] != "account" and obj.get("_account") != account):
            return None
        return obj

    async def _retrieve(self, request: web.Request) -> web.Response:
        _, account = await self._params(request)
        obj = self._get(request.match_info["id"], account)
        if obj is None:
            return _error(404, f"No such object: '{request.match_info['id']}'")
        return self._json(obj)

    # -- Connect -----------------------------------------------------------------------------------------

    async def _create_account(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        if params.get("type") in {"express", "custom"}:
            return _error(400, "this platform only creates accounts with the full Stripe Dashboard")
        obj = {
            "id": _id("acct"),
            "object": "account",
            "email": params.get("email"),
            "controller": params.get("controller", {}),
            "metadata": params.get("metadata", {}),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "livemode": False,
        }
        return self._json(self._store(obj, None))

    async def _create_account_link(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        account = self.objects.get(params.get("account", ""))
        if account is None:
            return _error(400, "No such account")
        query = urlencode({"return_url": params["return_url"], "refresh_url": params.get("refresh_url", "")})
        return web.json_response(
            {
                "object": "account_link",
                "created": int(time.time()),
                "expires_at": int(time.time()) + 300,
                "url": f"{self.url}/connect/onboard/{account['id']}?{query}",
            }
        )

    async def _onboard_page(self, request: web.Request) -> web.Response:
        account_id = request.match_info["id"]
        query = html.escape(request.query_string)
        return _page(
            "Set up payments",
            f"<p>Account {html.escape(account_id)}</p>"
            f"<form method='post' action='/connect/onboard/{account_id}?{query}'>"
            "<button id='finish-onboarding'>Finish onboarding</button></form>",
        )

    async def _onboard_submit(self, request: web.Request) -> web.Response:
        self.complete_onboarding(request.match_info["id"])
        raise web.HTTPSeeOther(request.query["return_url"])

    def complete_onboarding(self, account_id: str) -> None:
        account = self.objects[account_id]
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
        self.send([self.event("account.updated", self._public(account), account_id)])

    # -- Products, prices, checkout ----------------------------------------------------------------------

    async def _create_product(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        obj = {"id": _id("prod"), "object": "product", "name": params.get("name"), "active": True}
        return self._json(self._store(obj, account))

    async def _create_price(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        if self._get(params.get("product", ""), account) is None:
            return _error(400, "No such product")
        obj = {
            "id": _id("price"),
            "object": "price",
            "product": params["product"],
            "unit_amount": int(params["unit_amount"]),
            "currency": params["currency"],
            "recurring": params.get("recurring"),
            "type": "recurring" if params.get("recurring") else "one_time",
        }
        return self._json(self._store(obj, account))

    async def _create_coupon(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        obj = {
            "id": _id("coupon"),
            "object": "coupon",
            "duration": params.get("duration", "once"),
            "percent_off": int(params["percent_off"]) if "percent_off" in params else None,
            "amount_off": int(params["amount_off"]) if "amount_off" in params else None,
        }
        return self._json(self._store(obj, account))

    def _discounted(self, total: int, discounts: list[dict[str, Any]], account: str | None) -> int:
        for discount in discounts:
            coupon = self._get(discount.get("coupon", ""), account)
            if coupon is None:
                raise web.HTTPBadRequest(text="No such coupon")
            if coupon["percent_off"] is not None:
                total -= (total * coupon["percent_off"] + 50) // 100
            else:
                total -= coupon["amount_off"]
        return max(0, total)

    async def _create_session(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        if "application_fee_amount" in str(params):
            return _error(400, "0 % platform: no application fee expected")
        # No Stripe-Account: the platform's own account (its own subscriptions), which can always take charges.
        if account is not None and self.objects.get(account, {}).get("charges_enabled") is not True:
            return _error(400, "the connected account cannot take charges")
        total = 0
        recurring = None
        for line in params.get("line_items", []):
            quantity = int(line.get("quantity", 1))
            if "price" in line:
                price = self._get(line["price"], account)
                if price is None:
                    return _error(400, f"No such price: '{line['price']}'")
                total += price["unit_amount"] * quantity
                recurring = price.get("recurring")
            else:
                total += int(line["price_data"]["unit_amount"]) * quantity
        total = self._discounted(total, params.get("discounts", []), account)
        mode = params.get("mode", "payment")
        if mode == "subscription" and recurring is None:
            return _error(400, "subscription mode needs a recurring price")
        session_id = _id("cs_test")
        obj = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": "usd",
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "customer": None,
            "customer_email": params.get("customer_email"),
            "payment_intent": None,
            "subscription": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "livemode": False,
            "url": f"{self.url}/pay/{session_id}",
            "_line_items": params.get("line_items", []),
            "_subscription_data": params.get("subscription_data", {}),
        }
        return self._json(self._store(obj, account))

    async def _pay_page(self, request: web.Request) -> web.Response:
        session = self.objects.get(request.match_info["id"])
        if session is None:
            raise web.HTTPNotFound()
        if session["status"] != "open":
            return _page("This checkout is closed", "")
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        names = ", ".join(
            html.escape(str(line.get("price_data", {}).get("product_data", {}).get("name", "Subscription")))
            for line in session["_line_items"]
        )
        return _page(
            f"Pay {amount}",
            f"<p id='products'>{names}</p><form method='post'><label>Card <input value='4242 4242 4242 4242'></label>"
            f"<p><button id='pay'>Pay {amount}</button></p></form>"
            f"<p><a href='{html.escape(session['cancel_url'] or '')}'>Cancel</a></p>",
        )

    async def _pay_submit(self, request: web.Request) -> web.Response:
        session = self.objects.get(request.match_info["id"])
        if session is None or session["status"] != "open":
            raise web.HTTPNotFound()
        self.pay(session["id"])
        raise web.HTTPSeeOther(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]))

    def pay(self, session_id: str) -> dict[str, Any]:
        """The buyer pays: the session completes and its events go out (the test's "Pay" button)."""
        session = self.objects[session_id]
        account = session["_account"]
        customer = self._store({"id": _id("cus"), "object": "customer"}, account)
        session.update(status="complete", customer=customer["id"])
        payloads = []
        if session["mode"] == "subscription":
            session["payment_status"] = "paid"
            subscription = self._new_subscription(session, customer["id"])
            session["subscription"] = subscription["id"]
            payloads.append(self.event("checkout.session.completed", self._public(session), account))
            payloads.append(self.event("customer.subscription.created", self._public(subscription), account))
            payloads.append(self.event("invoice.paid", self._invoice(subscription), account))
        else:
            intent = self._store(
                {"id": _id("pi"), "object": "payment_intent", "amount": session["amount_total"]}, account
            )
            charge = {
                "id": _id("ch"),
                "object": "charge",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "refunded": False,
                "payment_intent": intent["id"],
                "currency": session["currency"],
            }
            self._store(charge, account)
            intent["latest_charge"] = charge["id"]
            session["payment_intent"] = intent["id"]
            if session["amount_total"] == 0:
                session["payment_status"] = "no_payment_required"
            else:
                session["payment_status"] = "paid" if self.pay_as == "paid" else "unpaid"
            payloads.append(self.event("checkout.session.completed", self._public(session), account))
        self.send(payloads)
        return session

    def settle_async_payment(self, session_id: str, *, succeeded: bool) -> None:
        session = self.objects[session_id]
        session["payment_status"] = "paid" if succeeded else "unpaid"
        kind = "succeeded" if succeeded else "failed"
        self.send([self.event(f"checkout.session.async_payment_{kind}", self._public(session), session["_account"])])

    # -- subscriptions -----------------------------------------------------------------------------------

    def _new_subscription(self, session: dict[str, Any], customer: str) -> dict[str, Any]:
        price = self.objects[session["_line_items"][0]["price"]]
        now = int(time.time())
        trial_days = int(session["_subscription_data"].get("trial_period_days") or 0)
        period_end = now + (trial_days * 86400 or PERIOD_SECONDS[price["recurring"]["interval"]])
        obj = {
            "id": _id("sub"),
            "object": "subscription",
            "status": "trialing" if trial_days else "active",
            "customer": customer,
            "metadata": session["_subscription_data"].get("metadata", {}),
            "cancel_at_period_end": False,
            "canceled_at": None,
            "created": now,
            "trial_end": period_end if trial_days else None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _id("si"),
                        "price": self._public(price),
                        "current_period_start": now,
                        "current_period_end": period_end,
                    }
                ],
            },
            "latest_invoice": None,
        }
        return self._store(obj, session["_account"])

    def _invoice(self, subscription: dict[str, Any]) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        invoice = {
            "id": _id("in"),
            "object": "invoice",
            "subscription": subscription["id"],
            "customer": subscription["customer"],
            "amount_paid": item["price"]["unit_amount"],
            "status": "paid",
            "billing_reason": "subscription_cycle" if subscription["latest_invoice"] else "subscription_create",
        }
        subscription["latest_invoice"] = invoice["id"]
        return self._store(invoice, subscription["_account"])

    def renew(self, subscription_id: str) -> None:
        """A billing period passes: the subscription moves on and an invoice is paid."""
        subscription = self.objects[subscription_id]
        item = subscription["items"]["data"][0]
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = start + PERIOD_SECONDS[item["price"]["recurring"]["interval"]]
        subscription["status"] = "active"
        account = subscription["_account"]
        self.send(
            [
                self.event("customer.subscription.updated", self._public(subscription), account),
                self.event("invoice.paid", self._invoice(subscription), account),
            ]
        )

    def update_subscription(self, subscription_id: str, **changes: Any) -> None:
        """A change made at Stripe (the Dashboard, the portal): ``customer.subscription.updated`` goes out."""
        subscription = self.objects[subscription_id]
        subscription.update(changes)
        self.send([self.event("customer.subscription.updated", self._public(subscription), subscription["_account"])])

    def cancel(self, subscription_id: str) -> None:
        subscription = self.objects[subscription_id]
        subscription.update(status="canceled", canceled_at=int(time.time()))
        self.send([self.event("customer.subscription.deleted", self._public(subscription), subscription["_account"])])

    async def _update_subscription(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        subscription = self._get(request.match_info["id"], account)
        if subscription is None:
            return _error(404, "No such subscription")
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        if "items" in params:
            error = self._switch_items(subscription, params["items"], account)
            if error is not None:
                return error
        self.send([self.event("customer.subscription.updated", self._public(subscription), account)])
        return self._json(subscription)

    async def _cancel_subscription(self, request: web.Request) -> web.Response:
        _, account = await self._params(request)
        subscription = self._get(request.match_info["id"], account)
        if subscription is None or subscription["status"] == "canceled":
            # Stripe answers a second cancellation as if the subscription did not exist.
            return _error(404, f"No such subscription: '{request.match_info['id']}'")
        self.cancel(subscription["id"])
        return self._json(subscription)

    async def _create_portal(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        if self._get(params.get("customer", ""), account) is None:
            return _error(400, "No such customer")
        obj = {
            "id": _id("bps"),
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": "",
        }
        obj["url"] = f"{self.url}/portal/{obj['id']}"
        return self._json(self._store(obj, account))

    async def _portal_page(self, request: web.Request) -> web.Response:
        portal = self.objects.get(request.match_info["id"])
        if portal is None:
            raise web.HTTPNotFound()
        active = [
            o
            for o in self.objects.values()
            if o["object"] == "subscription" and o["customer"] == portal["customer"] and o["status"] != "canceled"
        ]
        rows = "".join(f"<li>{html.escape(o['id'])} ({o['status']})</li>" for o in active)
        button = (
            "<form method='post'><button id='cancel-subscription'>Cancel subscription</button></form>" if active else ""
        )
        return _page(
            "Your subscription",
            f"<ul>{rows}</ul>{button}<p><a href='{html.escape(portal['return_url'] or '')}'>Back</a></p>",
        )

    async def _portal_submit(self, request: web.Request) -> web.Response:
        portal = self.objects.get(request.match_info["id"])
        if portal is None:
            raise web.HTTPNotFound()
        for obj in list(self.objects.values()):
            if (
                obj["object"] == "subscription"
                and obj["customer"] == portal["customer"]
                and obj["status"] != "canceled"
            ):
                self.cancel(obj["id"])
        raise web.HTTPSeeOther(portal["return_url"])

    # -- refunds and disputes ----------------------------------------------------------------------------

    def _charge_of(self, payment_intent: str) -> dict[str, Any]:
        return self.objects[self.objects[payment_intent]["latest_charge"]]

    async def _create_refund(self, request: web.Request) -> web.Response:
        params, account = await self._params(request)
        key = request.headers.get("Idempotency-Key")
        if key is not None and f"idem:{key}" in self.objects:
            return self._json(self.objects[f"idem:{key}"])
        intent = self._get(params.get("payment_intent", ""), account)
        if intent is None:
            return _error(400, "No such payment_intent")
        charge = self._charge_of(intent["id"])
        amount = int(params.get("amount", charge["amount"] - charge["amount_refunded"]))
        if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
            return _error(400, "Refund amount is greater than the unrefunded amount")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = self._store(
            {
                "id": _id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "status": "succeeded",
                "payment_intent": intent["id"],
            },
            account,
        )
        if key is not None:
            self.objects[f"idem:{key}"] = refund
        self.send([self.event("charge.refunded", self._public(charge), account)])
        return self._json(refund)

    def dispute(self, payment_intent: str) -> str:
        charge = self._charge_of(payment_intent)
        dispute = {
            "id": _id("dp"),
            "object": "dispute",
            "charge": charge["id"],
            "payment_intent": payment_intent,
            "amount": charge["amount"],
            "status": "needs_response",
        }
        self._store(dispute, charge["_account"])
        self.send([self.event("charge.dispute.created", self._public(dispute), charge["_account"])])
        return str(dispute["id"])

    def close_dispute(self, dispute_id: str, *, won: bool) -> None:
        dispute = self.objects[dispute_id]
        dispute["status"] = "won" if won else "lost"
        self.send([self.event("charge.dispute.closed", self._public(dispute), dispute["_account"])])

    # -- the platform's own subscriptions (appended by the platform) -----------------------------------------

    def _switch_items(
        self, subscription: dict[str, Any], items: list[dict[str, Any]], account: str | None
    ) -> web.Response | None:
        """``items[0][id]=si_…&items[0][price]=price_…``: the item moves to another Price (an upgrade or a
        downgrade; the fake keeps the period and leaves proration to Stripe)."""
        for change in items:
            item = next((i for i in subscription["items"]["data"] if i["id"] == change.get("id")), None)
            price = self._get(change.get("price", ""), account)
            if item is None or price is None:
                return _error(400, "No such subscription item or price")
            item["price"] = self._public(price)
        return None

    def fail_payment(self, subscription_id: str) -> None:
        """A renewal's card is declined: the subscription goes ``past_due`` and ``invoice.payment_failed`` goes out."""
        subscription = self.objects[subscription_id]
        subscription["status"] = "past_due"
        invoice = self._invoice(subscription)
        invoice.update(status="open", amount_paid=0)
        account = subscription["_account"]
        self.send(
            [
                self.event("invoice.payment_failed", self._public(invoice), account),
                self.event("customer.subscription.updated", self._public(subscription), account),
            ]
        )

    # -- stopping what a deleted account leaves (appended by plat2) ------------------------------------------

    async def _expire_session(self, request: web.Request) -> web.Response:
        _, account = await self._params(request)
        session = self._get(request.match_info["id"], account)
        if session is None:
            return _error(404, f"No such checkout.session: '{request.match_info['id']}'")
        if session["status"] != "open":
            return _error(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
        session["status"] = "expired"
        self.send([self.event("checkout.session.expired", self._public(session), account)])
        return self._json(session)

    def live_subscriptions(self, account: str | None = None) -> list[str]:
        """The ids of subscriptions that still bill someone (not cancelled), on ``account``."""
        return [
            o["id"]
            for o in self.objects.values()
            if o["object"] == "subscription" and o["_account"] == account and o["status"] != "canceled"
        ]
