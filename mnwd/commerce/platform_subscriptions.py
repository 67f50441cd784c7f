"""Subscriptions sold on the platform's own Stripe account by another domain (the platform's creator tiers and
Fan+), applied by that domain: the webhook stays commerce's, one endpoint and one ledger.

- ``PLATFORM_SUBSCRIPTIONS``: the registry in `Services`, a dict ``{mnwd_kind: handler}`` installed empty by
  commerce's ``start``; a higher domain adds its handler in its own ``start``. ``mnwd_kind`` is the metadata
  the seller puts on the Checkout Session and on the subscription (``subscription_data.metadata``).
- ``handler(tx, gateway, event)`` → an outcome for the ledger, or ``None`` when the subscription is not its
  own. It runs inside the webhook's transaction (a failure rolls the ledger row back and Stripe retries), and
  like commerce's own subscriptions it should lock its row and re-fetch the subscription from Stripe (events
  arrive late, twice and out of order).
- `dispatch`: events of the platform's account (no ``account`` field) about a subscription: Checkout Sessions
  in subscription mode, ``customer.subscription.*`` (both carry the metadata, so the handler of its
  ``mnwd_kind`` is asked), ``invoice.paid|payment_failed`` (an invoice may carry no metadata: every handler
  is asked in turn, each answering ``None`` for a subscription it does not know). Nothing claimed it:
  commerce handles the event as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mnwd.commerce.gateway import StripeGateway
from mnwd.db.tx import Tx
from mnwd.services import ServiceKey

__all__ = [
    "PLATFORM_SUBSCRIPTIONS",
    "PlatformSubscriptionEvent",
    "PlatformSubscriptionHandler",
    "dispatch",
]


@dataclass(frozen=True)
class PlatformSubscriptionEvent:
    """What a handler learns of one event: which subscription (or Checkout Session) it is about."""

    type: str
    stripe_subscription_id: str | None
    session_id: str | None
    metadata: Mapping[str, str]
    event_at: datetime | None


PlatformSubscriptionHandler = Callable[[Tx, StripeGateway, PlatformSubscriptionEvent], Awaitable[str | None]]
PLATFORM_SUBSCRIPTIONS = ServiceKey("commerce.platform_subscriptions", dict[str, PlatformSubscriptionHandler])


async def dispatch(
    handlers: Mapping[str, PlatformSubscriptionHandler],
    tx: Tx,
    gateway: StripeGateway,
    event: PlatformSubscriptionEvent,
) -> str | None:
    kind = event.metadata.get("mnwd_kind")
    if kind:
        handler = handlers.get(str(kind))
        return None if handler is None else await handler(tx, gateway, event)
    for handler in handlers.values():
        outcome = await handler(tx, gateway, event)
        if outcome is not None:
            return outcome
    return None
