"""Commerce on Stripe Connect at 0 % platform fee: creators' connected accounts, checkout of items (fixed
price, pay what you want, bundles) and subscription tiers, promo codes, the webhook ledger with exactly-once
fulfilment, refunds and disputes, the buyer's ``/library`` with signed downloads, the creator's sales.

What other domains may use: ``DOMAIN``, the plug-in the daemon loads (see docs/commerce.md). Licensing
receives fulfilled purchases as job ``licensing.issue_for_purchase`` ``{"transaction_id"}``.
"""

from mnwd.commerce.domain import DOMAIN

__all__ = ["DOMAIN"]
