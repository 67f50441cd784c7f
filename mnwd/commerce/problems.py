"""The problems commerce answers (their slugs are in `mnwd.errors.PROBLEM_TYPES` and docs/errors.md)."""

from __future__ import annotations

from typing import Any

from mnwd.errors import BadRequest, Conflict, Problem, ServiceUnavailable

__all__ = [
    "AlreadyPurchased",
    "PaymentProviderError",
    "PaymentsNotConfigured",
    "PromoCodeInvalid",
    "SellerNotConnected",
    "WebhookSignatureInvalid",
]


class PaymentsNotConfigured(ServiceUnavailable):
    slug = "payments-not-configured"

    def __init__(self) -> None:
        super().__init__("Payments are not configured on this server.")


class PaymentProviderError(Problem):
    status = 502
    slug = "payment-provider-error"


class SellerNotConnected(Conflict):
    slug = "seller-not-connected"

    def __init__(self) -> None:
        super().__init__("The creator has not finished setting up payments yet.")


class AlreadyPurchased(Conflict):
    slug = "already-purchased"

    def __init__(self, **extra: Any) -> None:
        super().__init__("You already own this; it is in your library.", **extra)


class PromoCodeInvalid(Problem):
    status = 422
    slug = "promo-code-invalid"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail, reason=reason)


class WebhookSignatureInvalid(BadRequest):
    slug = "webhook-signature-invalid"
