"""The platform domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from mnwd.accounts import SIGNUP_HOOKS
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.platform import domains, invites, routes, waitlist
from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[SIGNUP_HOOKS].append(invites.redeem_at_sign_up)
    yield


DOMAIN = Domain(
    name="platform",
    routes=routes.setup,
    templates=TEMPLATES,
    start=start,
    settings=PlatformSettings,
    periodic=(Periodic("platform.domains.recheck", 900.0, domains.recheck_verified),),
    jobs=(JobKind(waitlist.INVITATION_JOB, waitlist.send_invitation),),
)
