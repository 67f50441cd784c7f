"""`StripeGateway`: the calls mnwd makes to Stripe, through the ``stripe`` library's async client.

Every call on a creator's behalf is a direct charge on their connected account (``stripe_account=``); an
``account`` of ``None`` is the platform's own account (the platform's own subscriptions: creator tiers, Fan+,
see `mnwd.commerce.platform_subscriptions`). No application fee is ever sent (the platform takes 0 %, and
Stripe documents the fee as a positive integer).
Answers come back as plain dicts. A Stripe error becomes `PaymentProviderError` (502) with Stripe's message,
a network failure `PaymentProviderError` too; nothing of ours has been written when either is raised.

``services[PAYMENTS].gateway`` is the gateway, or ``None`` when ``MNWD_STRIPE_SECRET_KEY`` is unset (`require_gateway`
raises `PaymentsNotConfigured`).

The ``stripe`` library (and ``requests`` with it, a twentieth of a second) is imported when a gateway is made,
so a daemon without payments never loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mnwd.commerce.problems import PaymentProviderError, PaymentsNotConfigured
from mnwd.commerce.settings import CommerceSettings
from mnwd.services import ServiceKey, Services

__all__ = ["PAYMENTS", "Payments", "StripeGateway", "require_gateway"]

log = logging.getLogger(__name__)


if TYPE_CHECKING:
    import stripe


class StripeGateway:
    def __init__(self, settings: CommerceSettings) -> None:
        assert settings.stripe_secret_key
        import stripe

        self._http = stripe.AIOHTTPClient()
        addresses: dict[str, str] = {}
        if settings.stripe_api_base:
            addresses = {"api": settings.stripe_api_base, "connect": settings.stripe_api_base}
        self._client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=2,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _call(self, what: str, call: Any) -> dict[str, Any]:
        import stripe

        try:
            result = await call
        except stripe.StripeError as exc:
            log.warning("stripe call failed", extra={"call": what, "error": str(exc.user_message or exc)})
            raise PaymentProviderError(f"Stripe refused: {exc.user_message or 'unknown error'}") from None
        return result.to_dict()  # type: ignore[no-any-return]

    @staticmethod
    def _on(account: str | None) -> stripe.RequestOptions:
        """``None``: the platform's own account (the platform's subscriptions, `platform_subscriptions`)."""
        return {} if account is None else {"stripe_account": account}

    async def create_account(self, *, email: str, user_id: str) -> dict[str, Any]:
        """An account with the full Stripe Dashboard whose Stripe fees it pays itself (no Express/Custom)."""
        return await self._call(
            "accounts.create",
            self._client.v1.accounts.create_async(
                {
                    "email": email,
                    "controller": {
                        "stripe_dashboard": {"type": "full"},
                        "fees": {"payer": "account"},
                        "losses": {"payments": "stripe"},
                        "requirement_collection": "stripe",
                    },
                    "metadata": {"mnwd_user_id": user_id},
                }
            ),
        )

    async def retrieve_account(self, account: str) -> dict[str, Any]:
        return await self._call("accounts.retrieve", self._client.v1.accounts.retrieve_async(account))

    async def account_link(self, account: str, *, return_url: str, refresh_url: str) -> str:
        link = await self._call(
            "account_links.create",
            self._client.v1.account_links.create_async(
                {"account": account, "type": "account_onboarding", "return_url": return_url, "refresh_url": refresh_url}
            ),
        )
        return str(link["url"])

    async def create_recurring_price(
        self, account: str | None, *, name: str, amount_cents: int, currency: str, interval: str
    ) -> tuple[str, str]:
        product = await self._call(
            "products.create", self._client.v1.products.create_async({"name": name}, self._on(account))
        )
        price = await self._call(
            "prices.create",
            self._client.v1.prices.create_async(
                {
                    "product": product["id"],
                    "unit_amount": amount_cents,
                    "currency": currency,
                    "recurring": {"interval": interval},
                },
                self._on(account),
            ),
        )
        return str(product["id"]), str(price["id"])

    async def create_coupon(
        self, account: str, *, percent_off: int | None, amount_off: int | None, currency: str
    ) -> str:
        params: dict[str, Any] = {"duration": "forever"}
        if percent_off is not None:
            params["percent_off"] = percent_off
        else:
            params.update(amount_off=amount_off, currency=currency)
        coupon = await self._call(
            "coupons.create",
            self._client.v1.coupons.create_async(params, self._on(account)),  # type: ignore[arg-type]
        )
        return str(coupon["id"])

    async def create_checkout_session(self, account: str | None, params: dict[str, Any]) -> dict[str, Any]:
        assert "application_fee_amount" not in str(params), "0 % platform: never send an application fee"
        return await self._call(
            "checkout.sessions.create",
            self._client.v1.checkout.sessions.create_async(params, self._on(account)),  # type: ignore[arg-type]
        )

    async def retrieve_subscription(self, account: str | None, subscription: str) -> dict[str, Any]:
        return await self._call(
            "subscriptions.retrieve",
            self._client.v1.subscriptions.retrieve_async(subscription, options=self._on(account)),
        )

    async def refund(
        self, account: str, *, payment_intent: str, amount_cents: int | None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``idempotency_key``: Stripe answers a repeated call with the first refund instead of refunding again."""
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount_cents is not None:
            params["amount"] = amount_cents
        options = self._on(account)
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        return await self._call(
            "refunds.create",
            self._client.v1.refunds.create_async(params, options),  # type: ignore[arg-type]
        )

    async def portal_url(self, account: str | None, *, customer: str, return_url: str) -> str:
        portal = await self._call(
            "billing_portal.sessions.create",
            self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": return_url}, self._on(account)
            ),
        )
        return str(portal["url"])

    async def update_subscription(
        self, account: str | None, subscription: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "subscriptions.update",
            self._client.v1.subscriptions.update_async(
                subscription,
                params,  # type: ignore[arg-type]
                self._on(account),
            ),
        )

    async def cancel_subscription(self, account: str | None, subscription: str) -> dict[str, Any]:
        return await self._call(
            "subscriptions.cancel",
            self._client.v1.subscriptions.cancel_async(subscription, options=self._on(account)),
        )

    async def _unless_missing(self, what: str, call: Any) -> dict[str, Any] | None:
        """Like `_call`, but Stripe's 404 (no such object, or a subscription already cancelled: Stripe answers a
        second cancellation so) is ``None`` instead of an error."""
        import stripe

        try:
            result = await call
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            log.warning("stripe call failed", extra={"call": what, "error": str(exc.user_message or exc)})
            raise PaymentProviderError(f"Stripe refused: {exc.user_message or 'unknown error'}") from None
        except stripe.StripeError as exc:
            log.warning("stripe call failed", extra={"call": what, "error": str(exc.user_message or exc)})
            raise PaymentProviderError(f"Stripe refused: {exc.user_message or 'unknown error'}") from None
        return result.to_dict()  # type: ignore[no-any-return]

    async def end_subscription(self, account: str | None, subscription: str) -> str:
        """Cancel at once unless it has ended: ``canceled`` (by this call), ``ended`` (cancelled or expired before,
        or unknown to Stripe). Safe to repeat and to run twice at once: the second cancellation is Stripe's 404."""
        current = await self._unless_missing(
            "subscriptions.retrieve",
            self._client.v1.subscriptions.retrieve_async(subscription, options=self._on(account)),
        )
        if current is None or current.get("status") in ("canceled", "incomplete_expired"):
            return "ended"
        done = await self._unless_missing(
            "subscriptions.cancel",
            self._client.v1.subscriptions.cancel_async(subscription, options=self._on(account)),
        )
        return "ended" if done is None else "canceled"

    async def close_checkout_session(self, account: str | None, session: str) -> str | None:
        """Expire a Checkout Session still open, so it can no longer be paid; the subscription it made if it was
        paid already (or meanwhile), else ``None``."""
        import stripe

        options = self._on(account)
        found = await self._unless_missing(
            "checkout.sessions.retrieve", self._client.v1.checkout.sessions.retrieve_async(session, options=options)
        )
        if found is None:
            return None
        if found.get("status") == "open":
            try:
                expired = await self._client.v1.checkout.sessions.expire_async(session, options=options)
                found = expired.to_dict()
            except stripe.StripeError:
                # Paid between our two calls: read it again and take its subscription.
                found = await self._call(
                    "checkout.sessions.retrieve",
                    self._client.v1.checkout.sessions.retrieve_async(session, options=options),
                )
        subscription = found.get("subscription")
        return str(subscription) if subscription else None


@dataclass(frozen=True)
class Payments:
    """What the commerce domain installs: its settings and the gateway (``None`` without a secret key)."""

    settings: CommerceSettings
    gateway: StripeGateway | None


PAYMENTS = ServiceKey("commerce.payments", Payments)


def require_gateway(services: Services) -> StripeGateway:
    gateway = services[PAYMENTS].gateway
    if gateway is None:
        raise PaymentsNotConfigured()
    return gateway
