"""Asking for a link by mail (sign-in link, password reset): the address checked and the asking rate-limited,
per network and per address, before anything is queued."""

from __future__ import annotations

from mnwd.accounts.users import normalize_email
from mnwd.errors import ValidationFailed
from mnwd.ratelimit import Limit
from mnwd.services import Services

__all__ = ["address_for_mail"]


async def address_for_mail(services: Services, raw: str, remote: str, per_ip: Limit, per_address: Limit) -> str:
    """The normalized address to mail; raises `ValidationFailed` or `TooManyRequests`."""
    email = normalize_email(raw)
    if email is None:
        raise ValidationFailed("No link was sent.", errors=[{"field": "email", "message": "Enter one email address."}])
    await services.limiter.hit(per_ip, remote)
    await services.limiter.hit(per_address, email.lower())
    return email
