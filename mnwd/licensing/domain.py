"""The licensing domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from mnwd.accounts import SIGNUP_HOOKS
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.licensing import activations, issuance, library, pages_dashboard, pages_library, routes
from mnwd.licensing.commands import add_commands
from mnwd.licensing.settings import LicensingSettings
from mnwd.licensing.validations import CHANNEL, VALIDATIONS, ValidationCache
from mnwd.services import Services

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
SWEEP_EVERY_SECONDS = 60.0


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[SIGNUP_HOOKS].append(library.claim_at_sign_up)
    cache = ValidationCache()
    services[VALIDATIONS] = cache
    services.listen.subscribe(CHANNEL, cache)
    yield


def setup_routes(app: web.Application) -> None:
    routes.setup(app)
    pages_library.setup(app)
    pages_dashboard.setup(app)


DOMAIN = Domain(
    name="licensing",
    routes=setup_routes,
    commands=add_commands,
    templates=TEMPLATES,
    settings=LicensingSettings,
    start=start,
    jobs=(
        JobKind(issuance.ISSUE_JOB, issuance.run_issue_for_purchase),
        JobKind(issuance.REVOKE_JOB, issuance.run_revoke_for_transaction),
        JobKind(issuance.RESTORE_JOB, issuance.run_restore_for_transaction),
    ),
    periodic=(
        Periodic("licensing.dead_leases", SWEEP_EVERY_SECONDS, activations.sweep_dead_leases),
        Periodic("licensing.refunds", SWEEP_EVERY_SECONDS, issuance.revoke_refunded),
    ),
)
