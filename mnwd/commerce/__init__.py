"""Commerce on Stripe Connect at 0 % platform fee: creators' connected accounts, checkout of items (fixed
price, pay what you want, bundles) and subscription tiers, promo codes, the webhook ledger with exactly-once
fulfilment, refunds and disputes, the buyer's ``/library`` with signed downloads, the creator's sales.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/commerce.md). Licensing
receives fulfilled purchases as job ``licensing.issue_for_purchase`` ``{"transaction_id"}``.

For subscriptions another domain sells on the platform's own Stripe account (the platform's creator tiers and
Fan+): `PLATFORM_SUBSCRIPTIONS` (register a handler by ``mnwd_kind``, see
`mnwd.commerce.platform_subscriptions`), `PlatformSubscriptionEvent`, `StripeGateway` and `require_gateway`
(calls with ``account=None`` go to the platform's account), `STATUS_FROM_STRIPE` (Stripe's subscription status
→ ours), `leave_for` (answer a form by sending the browser on to Stripe).

`enqueue_cancellation(tx, services, account=, subscription=, checkout_session=)`: in the caller's transaction,
a durable job that cancels a subscription at Stripe (and expires the Checkout Session that may still make one);
the platform uses it for its own subscriptions when their account is deleted (`mnwd.commerce.cancellations`).
"""

from mnwd.commerce.cancellations import enqueue_cancellation
from mnwd.commerce.domain import DOMAIN
from mnwd.commerce.gateway import StripeGateway, require_gateway
from mnwd.commerce.leaving import leave_for
from mnwd.commerce.platform_subscriptions import PLATFORM_SUBSCRIPTIONS, PlatformSubscriptionEvent
from mnwd.commerce.subscriptions import STATUS_FROM_STRIPE

__all__ = [
    "DOMAIN",
    "PLATFORM_SUBSCRIPTIONS",
    "STATUS_FROM_STRIPE",
    "PlatformSubscriptionEvent",
    "StripeGateway",
    "enqueue_cancellation",
    "leave_for",
    "require_gateway",
]
