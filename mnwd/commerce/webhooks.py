"""`POST /stripe/webhook`: Stripe's events (platform and Connect) into the ledger, each handled once.

`receive(services, raw_body, signature_header)`:

1. Without a ``Stripe-Signature`` header the answer is `WebhookSignatureInvalid` (400), configured or not;
   without the keys, `PaymentsNotConfigured` (503). The raw bytes are verified with
   ``stripe.Webhook.construct_event`` (tolerance 300 s): a wrong or stale signature raises
   `WebhookSignatureInvalid` (400) and nothing is written.
2. An event whose ``livemode`` differs from the secret key's mode is answered ``ignored-livemode`` (a live
   endpoint also receives test events of connected accounts) and not stored.
3. In one transaction: the event is inserted into the ledger (``subscription_events``, unique on the event id);
   a redelivery finds it there and is answered ``duplicate`` (200) without doing anything; concurrent
   deliveries of one id wait on the first insert and then find it. The handler runs in the same
   transaction: if it fails, the ledger row goes too and Stripe's retry finds the event new again.

What each event does (the outcome is kept in the ledger's ``outcome``):

- ``account.updated``: ``users.stripe_onboarding_complete`` = charges enabled and details submitted;
- ``checkout.session.completed``: payment mode, ``payment_status`` ``paid``/``no_payment_required`` →
  `fulfilment.complete_session` (exactly once); ``unpaid`` (a delayed method) waits; subscription mode →
  the subscription's state (`subscriptions.apply_subscription_event`);
- ``checkout.session.async_payment_succeeded`` → fulfil; ``…_failed`` and ``checkout.session.expired`` →
  the pending row becomes ``failed``;
- ``customer.subscription.created|updated|deleted|paused|resumed``, ``invoice.paid``,
  ``invoice.payment_failed`` → the subscription re-fetched and applied (out-of-order safe);
- ``charge.refunded`` → ``refunded_cents``; a full refund makes the row ``refunded`` (access ends);
- ``charge.dispute.created`` → access suspended (``dispute_status = 'open'``); ``charge.dispute.closed``:
  ``won`` restores it, ``lost`` ends it; a license key of the purchase follows (licensing's jobs
  ``licensing.revoke_for_transaction`` / ``licensing.restore_for_transaction``);
- anything else is stored as ``ignored``.

Subscription events of the platform's own account (no ``account``) are first offered to the handlers other
domains registered in ``services[PLATFORM_SUBSCRIPTIONS]`` (`mnwd.commerce.platform_subscriptions`: the
platform's creator tiers and Fan+); one that claims the event decides its outcome.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from mnwd.commerce import fulfilment, queries
from mnwd.commerce.gateway import PAYMENTS, StripeGateway
from mnwd.commerce.platform_subscriptions import (
    PLATFORM_SUBSCRIPTIONS,
    PlatformSubscriptionEvent,
    dispatch,
)
from mnwd.commerce.problems import PaymentsNotConfigured, WebhookSignatureInvalid
from mnwd.commerce.subscriptions import apply_subscription_event
from mnwd.db.tx import Tx, run_tx
from mnwd.services import Services

__all__ = ["TOLERANCE_SECONDS", "receive"]

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)


async def receive(services: Services, raw: bytes, signature: str | None) -> str:
    if not signature or not signature.strip():
        raise WebhookSignatureInvalid("The Stripe-Signature header is missing.")
    payments = services[PAYMENTS]
    settings = payments.settings
    if payments.gateway is None or not settings.stripe_webhook_secret:
        raise PaymentsNotConfigured()
    gateway = payments.gateway
    import stripe  # loaded with the gateway (`mnwd.commerce.gateway`)

    try:
        stripe.Webhook.construct_event(
            raw, signature or "", settings.stripe_webhook_secret, TOLERANCE_SECONDS, api_key=settings.stripe_secret_key
        )
        event = orjson.loads(raw)
        kind, event_id, obj = event["type"], event["id"], event["data"]["object"]
        if not isinstance(kind, str) or not isinstance(event_id, str) or not isinstance(obj, dict):
            raise ValueError("malformed event")
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError):
        raise WebhookSignatureInvalid("The Stripe-Signature header does not verify this body.") from None
    if bool(event.get("livemode")) != settings.livemode:
        return "ignored-livemode"
    created = datetime.fromtimestamp(int(event["created"]), UTC) if event.get("created") else None
    handlers = services[PLATFORM_SUBSCRIPTIONS]

    async def body(tx: Tx) -> str:
        ledger_id = await queries.claim_event(tx.conn, event, raw.decode(), created)
        if ledger_id is None:
            return "duplicate"
        platform_event = _platform_event(event, created) if handlers else None
        claimed = None if platform_event is None else await dispatch(handlers, tx, gateway, platform_event)
        if claimed is not None:
            await queries.finish_event(tx.conn, ledger_id, claimed, None)
            return claimed
        subscription_id, outcome = await _handle(tx, gateway, event, created)
        await queries.finish_event(tx.conn, ledger_id, outcome, subscription_id)
        return outcome

    outcome = await run_tx(services.pool, "commerce.webhook", body, metrics=services.metrics)
    log.info("stripe event", extra={"event": event_id, "type": kind, "outcome": outcome})
    return outcome


def _subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    found = invoice.get("subscription")
    if found is None:
        details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
        found = details.get("subscription")
    return None if found is None else str(found)


def _platform_event(event: dict[str, Any], created: datetime | None) -> PlatformSubscriptionEvent | None:
    """The subscription an event of the platform's own account is about, or ``None`` (not such an event)."""
    if event.get("account"):
        return None
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    if kind.startswith("checkout.session.") and obj.get("mode") == "subscription":
        subscription, session, metadata = obj.get("subscription"), obj.get("id"), obj.get("metadata")
    elif kind in SUBSCRIPTION_EVENTS:
        subscription, session, metadata = obj.get("id"), None, obj.get("metadata")
    elif kind in {"invoice.paid", "invoice.payment_failed"}:
        details = obj.get("subscription_details") or ((obj.get("parent") or {}).get("subscription_details")) or {}
        subscription, session, metadata = _subscription_of_invoice(obj), None, details.get("metadata")
    else:
        return None
    return PlatformSubscriptionEvent(
        type=kind,
        stripe_subscription_id=None if subscription is None else str(subscription),
        session_id=None if session is None else str(session),
        metadata={str(k): str(v) for k, v in (metadata or {}).items()},
        event_at=created,
    )


async def _handle(
    tx: Tx, gateway: StripeGateway, event: dict[str, Any], created: datetime | None
) -> tuple[uuid.UUID | None, str]:
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    account = event.get("account")
    conn = tx.conn
    if kind == "account.updated":
        complete = bool(obj.get("charges_enabled")) and bool(obj.get("details_submitted"))
        found = await queries.set_onboarding(conn, str(obj["id"]), complete)
        return None, ("onboarding-complete" if complete else "onboarding-incomplete") if found else "unknown-account"
    if kind.startswith("checkout.session."):
        if obj.get("mode") == "subscription":
            if kind == "checkout.session.expired":
                expired = await queries.expire_subscription_session(conn, str(obj["id"]))
                return expired, "subscription-expired" if expired else "already"
            if kind != "checkout.session.completed":
                return None, "ignored"
            return await apply_subscription_event(
                tx,
                gateway,
                account=account,
                stripe_subscription_id=obj.get("subscription"),
                our_id=(obj.get("metadata") or {}).get("mnwd_subscription_id"),
                session_id=obj.get("id"),
                event_at=created,
            )
        if kind == "checkout.session.completed":
            if obj.get("payment_status") in {"paid", "no_payment_required"}:
                return None, await fulfilment.complete_session(tx, obj, account)
            return None, "awaiting-payment"
        if kind == "checkout.session.async_payment_succeeded":
            return None, await fulfilment.complete_session(tx, obj, account)
        if kind in {"checkout.session.async_payment_failed", "checkout.session.expired"}:
            return None, await fulfilment.fail_session(tx, obj)
        return None, "ignored"
    if kind in SUBSCRIPTION_EVENTS or kind in {"invoice.paid", "invoice.payment_failed"}:
        is_invoice = kind.startswith("invoice.")
        stripe_id = _subscription_of_invoice(obj) if is_invoice else str(obj["id"])
        if stripe_id is None:
            return None, "ignored"
        metadata = {} if is_invoice else (obj.get("metadata") or {})
        return await apply_subscription_event(
            tx,
            gateway,
            account=account,
            stripe_subscription_id=stripe_id,
            our_id=metadata.get("mnwd_subscription_id"),
            session_id=None,
            event_at=created,
        )
    if kind == "charge.refunded" and obj.get("payment_intent"):
        full = bool(obj.get("refunded"))
        row = await queries.apply_refund(
            conn, str(obj["payment_intent"]), account, int(obj.get("amount_refunded") or 0), full
        )
        if row is None:
            return None, "unknown-charge"
        return None, "refunded" if full else "partially-refunded"
    if kind in {"charge.dispute.created", "charge.dispute.closed"} and obj.get("payment_intent"):
        closed_state = "lost" if obj.get("status") == "lost" else "won"
        state = "open" if kind == "charge.dispute.created" else closed_state
        row = await queries.apply_dispute(conn, str(obj["payment_intent"]), account, state)
        if row is None:
            return None, "unknown-charge"
        await fulfilment.license_follows_dispute(tx, row)
        return None, f"dispute-{state}"
    return None, "ignored"
