"""Stopping at Stripe what an account deletion leaves billing: nothing recurring may outlive its account.

Deleting a user removes their rows by the schema's cascades (``subscriptions`` of the subscriber, and of the
creator's projects; the platform's ``creator_subscriptions`` and ``fan_plus_subscriptions``), but a row going
away stops nothing at Stripe. So, inside the deletion's transaction (`mnwd.accounts.DELETION_HOOKS`), every
such row that may still charge someone becomes a durable job:

- ``enqueue_cancellation(conn, account=, subscription=, checkout_session=)`` → job ``commerce.cancel_at_stripe``
  ``{"account", "subscription", "checkout_session"}`` (``account`` ``None``: the platform's own Stripe account),
  keyed by what it stops, so enqueueing it again queues nothing. The platform calls it for its own rows.
- `cancel_on_account_deletion` (commerce's hook): the subscriptions the user pays (to creators' tiers, on
  their connected accounts) and the ones paid to the user's projects (on the user's connected account).
  Rows ``incomplete``, ``active`` or ``past_due`` with a Stripe subscription or a Checkout Session count; a
  ``canceled`` or ``expired`` row charges no one. When a creator's account goes while a buyer's subscription
  to it is live (the deletion page refuses that today, see `mnwd.accounts.deletion`; operators closing an
  account are the case), the buyer is mailed that the membership ended and will not be charged again, in the
  same transaction (keyed by the subscription: once).
- `cancel_on_project_deletion` (commerce's `mnwd.store.PROJECT_DELETION_HOOKS` hook): a creator deletes a
  project (``DELETE /api/v1/projects/{id}``, the dashboard's delete form). Every subscription to its tiers that
  may still charge someone (the rows the cascade removes) and every Checkout Session still open for its tiers
  or items is queued as above, in the deletion's transaction. Each subscriber whose membership was live is
  mailed that it ended because the project was deleted, and that it will not be charged again (keyed by the
  subscription: once). No refund of the period already paid is made (the creator may refund from Stripe).
- `cancel_on_item_deletion` (commerce's `mnwd.store.ITEM_DELETION_HOOKS` hook): the Checkout Sessions still
  open for the item, or for a bundle that holds it, are expired, so nobody pays for an item that is gone (a
  bundle paid after its part went would grant less than it showed). Items are one-off purchases (only a
  project's tiers are subscriptions), and completed purchases stay as the buyers' receipts. A project's
  deletion does the same for the bundles (of any of the creator's projects) holding one of its items.
- `cancel_at_stripe` (the job): a Checkout Session still open is expired, so it can no longer be paid (one
  paid already, or in between, gives its subscription); then the subscription is cancelled at once unless it
  has ended. Stripe answers a second cancellation with 404, taken as done, so the job may run any number of
  times, also twice at once. Stripe unreachable or refusing: the job raises and the queue retries it with
  backoff (``MAX_ATTEMPTS`` attempts, about a day), then it is ``dead`` for an operator (docs/jobs.md).

A backstop for what no deletion saw (a checkout started in another tab while the account was being deleted,
a session saved on its row after its project's deletion committed): an event about a subscription whose
metadata names a row of ours that no longer exists queues the same job
(`mnwd.commerce.subscriptions.apply_subscription_event`, and the platform's handler for its own). Rows go only
with their account or project, so such a subscription bills for nothing.

No refund is made for the period already paid: cancelling "now" stops the next charge, and the subscription's
current period was bought before the account went.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mnwd.commerce import queries
from mnwd.commerce.gateway import require_gateway
from mnwd.db import jobs
from mnwd.db.jobs import Job
from mnwd.db.tx import Tx
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.services import Services

__all__ = [
    "CANCEL_JOB",
    "MAX_ATTEMPTS",
    "cancel_at_stripe",
    "cancel_on_account_deletion",
    "cancel_on_item_deletion",
    "cancel_on_project_deletion",
    "enqueue_cancellation",
]

CANCEL_JOB = "commerce.cancel_at_stripe"
# Backoff doubles from 10 s up to an hour: 30 attempts keep trying for about a day.
MAX_ATTEMPTS = 30
LIVE = ("active", "past_due")


async def enqueue_cancellation(
    tx: Tx,
    *,
    account: str | None,
    subscription: str | None,
    checkout_session: str | None,
    wake: Callable[[], None] | None = None,
) -> None:
    """Have ``subscription`` (and what ``checkout_session`` may still make) cancelled at Stripe once ``tx``
    commits (``wake``: the job queue's, to run it now rather than at the next poll). Nothing to stop (neither
    given): nothing queued."""
    target = subscription or checkout_session
    if target is None:
        return
    await jobs.enqueue(
        tx.conn,
        CANCEL_JOB,
        {"account": account, "subscription": subscription, "checkout_session": checkout_session},
        key=f"cancel:{account or 'platform'}:{target}"[:200],
        max_attempts=MAX_ATTEMPTS,
    )
    if wake is not None:
        tx.after_commit(wake)


def cancel_on_account_deletion(services: Services) -> Callable[[Tx, uuid.UUID], Awaitable[None]]:
    """Commerce's `mnwd.accounts.DELETION_HOOKS` hook."""

    async def hook(tx: Tx, user_id: uuid.UUID) -> None:
        def ended(row: Any) -> str | None:  # the creator's members are told; the deleted user is not
            if row["creator_id"] == user_id and row["subscriber_id"] != user_id:
                return f"{row['creator_username']} closed their account"
            return None

        await _end_subscriptions(
            services, tx, await queries.list_billing_subscriptions_of_user(tx.conn, user_id), ended
        )

    return hook


def cancel_on_project_deletion(services: Services) -> Callable[[Tx, uuid.UUID], Awaitable[None]]:
    """Commerce's `mnwd.store.PROJECT_DELETION_HOOKS` hook."""

    async def hook(tx: Tx, project_id: uuid.UUID) -> None:
        def ended(row: Any) -> str | None:
            if row["subscriber_id"] != row["creator_id"]:
                return f"{row['creator_username']} deleted the project {row['project_title']}"
            return None

        rows = await queries.list_billing_subscriptions_of_project(tx.conn, project_id)
        await _end_subscriptions(services, tx, rows, ended)
        checkouts = await queries.list_open_item_checkouts(tx.conn, project_id=project_id)
        await _expire_item_checkouts(services, tx, checkouts)

    return hook


async def _end_subscriptions(services: Services, tx: Tx, rows: list[Any], reason: Callable[[Any], str | None]) -> None:
    """Cancel each subscription at Stripe (by a job); a live one's subscriber is mailed ``reason(row)``, if any."""
    base = services.config.base_url.rstrip("/")
    for row in rows:
        await enqueue_cancellation(
            tx,
            account=row["stripe_account_id"],
            subscription=row["stripe_subscription_id"],
            checkout_session=row["stripe_checkout_session_id"],
            wake=services.jobs.wake,
        )
        why = reason(row) if row["status"] in LIVE else None
        if why is not None:
            await _mail_membership_ended(tx, row, why, base)


def cancel_on_item_deletion(services: Services) -> Callable[[Tx, uuid.UUID], Awaitable[None]]:
    """Commerce's `mnwd.store.ITEM_DELETION_HOOKS` hook."""

    async def hook(tx: Tx, item_id: uuid.UUID) -> None:
        await _expire_item_checkouts(services, tx, await queries.list_open_item_checkouts(tx.conn, item_id=item_id))

    return hook


async def _expire_item_checkouts(services: Services, tx: Tx, rows: list[Any]) -> None:
    for row in rows:
        await enqueue_cancellation(
            tx,
            account=row["stripe_account_id"],
            subscription=None,
            checkout_session=row["stripe_checkout_session_id"],
            wake=services.jobs.wake,
        )


async def _mail_membership_ended(tx: Tx, row: Any, reason: str, base: str) -> None:
    """Tell the subscriber once (keyed by the subscription) that their membership ended and bills no more."""
    await enqueue_mail(
        tx.conn,
        Mail(
            to=row["subscriber_email"],
            subject=f"Your membership of {row['project_title']} has ended",
            text=(
                f"Hello {row['subscriber_username']},\n\n"
                f"{reason}, so your {row['tier_name']} membership of {row['project_title']} has ended. "
                "It is cancelled at Stripe: you will not be charged for it again.\n\n"
                f"Your other purchases and memberships: {base}/library\n"
            ),
        ),
        key=f"membership-ended:{row['id']}",
    )


async def cancel_at_stripe(services: Services, job: Job) -> None:
    account = job.payload.get("account") or None
    subscriptions = [job.payload["subscription"]] if job.payload.get("subscription") else []
    gateway = require_gateway(services)
    session = job.payload.get("checkout_session")
    if session:
        made = await gateway.close_checkout_session(account, str(session))
        if made is not None and made not in subscriptions:
            subscriptions.append(made)
    for subscription in subscriptions:
        await gateway.end_subscription(account, str(subscription))
