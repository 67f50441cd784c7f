"""The commerce domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from mnwd.accounts import DELETION_HOOKS
from mnwd.commerce import api, cancellations, library, mails, pages_buyer, pages_dashboard, refunds, webhook_routes
from mnwd.commerce.fulfilment import RECEIPT_JOB, REFUND_DUPLICATE_JOB, SALE_JOB
from mnwd.commerce.gateway import PAYMENTS, Payments, StripeGateway
from mnwd.commerce.platform_subscriptions import PLATFORM_SUBSCRIPTIONS
from mnwd.commerce.settings import CommerceSettings
from mnwd.domain import Domain, JobKind
from mnwd.services import Services
from mnwd.store import ITEM_DELETION_HOOKS, PROJECT_DELETION_HOOKS, add_download_grant
from mnwd.web.keys import SERVICES

__all__ = ["DOMAIN"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    settings = services.config.section(CommerceSettings)
    gateway = StripeGateway(settings) if settings.payments_configured else None
    services[PAYMENTS] = Payments(settings, gateway)
    services[PLATFORM_SUBSCRIPTIONS] = {}
    services[DELETION_HOOKS].append(cancellations.cancel_on_account_deletion(services))
    services[PROJECT_DELETION_HOOKS].append(cancellations.cancel_on_project_deletion(services))
    services[ITEM_DELETION_HOOKS].append(cancellations.cancel_on_item_deletion(services))
    try:
        yield
    finally:
        if gateway is not None:
            await gateway.close()


async def download_grant(request: web.Request, item_id: uuid.UUID, viewer_id: uuid.UUID | None) -> bool:
    return await library.may_download(
        request.app[SERVICES], item_id, viewer_id, request.query.get("grant"), time.time()
    )


async def page_context(request: web.Request) -> dict[str, Any]:
    return {"payments_configured": request.app[SERVICES][PAYMENTS].settings.payments_configured}


def setup_routes(app: web.Application) -> None:
    webhook_routes.setup(app)
    api.setup(app)
    pages_buyer.setup(app)
    pages_dashboard.setup(app)
    add_download_grant(app, download_grant)


DOMAIN = Domain(
    name="commerce",
    routes=setup_routes,
    templates=TEMPLATES,
    page_context=page_context,
    settings=CommerceSettings,
    start=start,
    jobs=(
        JobKind(RECEIPT_JOB, mails.send_receipt),
        JobKind(SALE_JOB, mails.notify_sale),
        JobKind(REFUND_DUPLICATE_JOB, refunds.refund_duplicate),
        JobKind(cancellations.CANCEL_JOB, cancellations.cancel_at_stripe, max_attempts=cancellations.MAX_ATTEMPTS),
    ),
)
