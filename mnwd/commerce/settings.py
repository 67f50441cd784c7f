"""Settings of commerce (``config.section(CommerceSettings)``): the Stripe keys and where the Stripe API is.

Without ``MNWD_STRIPE_SECRET_KEY`` payments are off: buy buttons say so and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, http_url

__all__ = ["CommerceSettings"]


@dataclass(frozen=True)
class CommerceSettings(Section):
    stripe_secret_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "stripe_secret_key",
            "MNWD_STRIPE_SECRET_KEY",
            None,
            "The platform's Stripe secret key (sk_live_... or sk_test_...); unset: payments are not configured.",
            secret=True,
        ),
        Setting(
            "stripe_webhook_secret",
            "MNWD_STRIPE_WEBHOOK_SECRET",
            None,
            "Signing secret (whsec_...) of the webhook endpoint /stripe/webhook (platform and Connect events).",
            secret=True,
        ),
        Setting(
            "stripe_api_base",
            "MNWD_STRIPE_API_BASE",
            None,
            "Base URL of the Stripe API; unset: Stripe's own. Tests point it at a Stripe-compatible fake.",
            http_url,
        ),
    )

    @property
    def payments_configured(self) -> bool:
        return bool(self.stripe_secret_key)

    @property
    def livemode(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_secret_key.startswith(("sk_live_", "rk_live_")))

    def __repr__(self) -> str:
        return (
            "CommerceSettings(stripe_secret_key=***, stripe_webhook_secret=***,"
            f" stripe_api_base={self.stripe_api_base!r})"
        )
