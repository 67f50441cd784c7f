"""Outbound mail: the durable queue every mail goes through, suppressions, DKIM, bounces, notifications.

A base package (it imports no domain) that is also a `Domain` named ``outbound``, first in `DOMAINS`, for
its job kind, periodic sweep, settings, commands and pages. Public interface::

    await enqueue_mail(conn, mail, stream="transactional", key=None, headers=None) -> UUID | None
    await mail_state(conn, mail_id) -> "queued" | "sent" | "failed" | "suppressed" | None
    await is_suppressed(conn, email) -> bool
    await notify(services, conn, user_id, kind, mail, key=None) -> UUID | None   # kind in NOTIFICATION_KINDS
    unsubscribe_url(services, user_id, kind) -> str

See `mnwd.outbound.queue` for the guarantees and docs/mail.md for the operator's view.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from mnwd.domain import Domain, JobKind, Periodic
from mnwd.mail import SmtpMailer
from mnwd.outbound import commands, routes, suppressions
from mnwd.outbound.dkim import load_signer
from mnwd.outbound.notifications import KINDS as NOTIFICATION_KINDS
from mnwd.outbound.notifications import notify, unsubscribe_url
from mnwd.outbound.queue import (
    MAX_ATTEMPTS,
    SEND_KIND,
    enqueue_mail,
    is_suppressed,
    mail_state,
    send_queued_mail,
    sweep_mails,
)
from mnwd.outbound.settings import OutboundSettings
from mnwd.services import Services

__all__ = [
    "DOMAIN",
    "NOTIFICATION_KINDS",
    "OutboundSettings",
    "enqueue_mail",
    "is_suppressed",
    "mail_state",
    "notify",
    "unsubscribe_url",
]


@contextlib.asynccontextmanager
async def _start(services: Services) -> AsyncIterator[None]:
    config = services.config
    signer = load_signer(config.section(OutboundSettings), config.mail_from)
    if config.smtp_url is None:
        yield
        return
    # The base mailer knows neither the DKIM key nor how many mails the job loop sends at once: this one signs,
    # and keeps a connection open for each of the loop's concurrent sends (mnwd.outbound.queue).
    await services.mailer.close()
    mailer = SmtpMailer(
        config.smtp_url, sender=config.mail_from, signer=signer, keep_connections=config.job_concurrency
    )
    services.mailer = mailer
    try:
        yield
    finally:
        await mailer.close()


DOMAIN = Domain(
    name="outbound",
    routes=routes.setup_routes,
    templates=Path(__file__).parent / "templates",
    commands=commands.add_commands,
    settings=OutboundSettings,
    start=_start,
    jobs=(JobKind(SEND_KIND, send_queued_mail, max_attempts=MAX_ATTEMPTS),),
    periodic=(
        Periodic("outbound.sweep_mails", 3600, sweep_mails),
        Periodic("outbound.read_bounce_inbox", 60, suppressions.read_bounce_inbox),
    ),
)
