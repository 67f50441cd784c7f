"""The platform domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from mnwd.accounts import DELETION_HOOKS, SIGNUP_HOOKS
from mnwd.commerce import PLATFORM_SUBSCRIPTIONS
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.platform import billing, domains, host_routing, invites, routes, waitlist
from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[SIGNUP_HOOKS].append(invites.redeem_at_sign_up)
    services[DELETION_HOOKS].append(billing.cancel_on_account_deletion(services))
    # Commerce's webhook hands the platform's own subscriptions to these (`mnwd.commerce.platform_subscriptions`).
    services[PLATFORM_SUBSCRIPTIONS][billing.CREATOR_TIER] = billing.handle_event(billing.CREATOR_TIER)
    services[PLATFORM_SUBSCRIPTIONS][billing.FAN_PLUS] = billing.handle_event(billing.FAN_PLUS)
    yield


DOMAIN = Domain(
    name="platform",
    routes=routes.setup,
    templates=TEMPLATES,
    page_context=host_routing.site_links,
    start=start,
    settings=PlatformSettings,
    periodic=(
        Periodic("platform.domains.recheck", 900.0, domains.recheck_verified),
        Periodic("platform.billing.grace", 3600.0, billing.enforce_grace),
    ),
    jobs=(JobKind(waitlist.INVITATION_JOB, waitlist.send_invitation),),
)
