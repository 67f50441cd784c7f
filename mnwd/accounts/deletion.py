"""Deleting one's own account (after re-authentication, see `reauth`).

- ``describe_deletion(services, viewer)``: what the account holds (projects, repos, apps, sales, purchases,
  devices, synced changes and files, app grants, passkeys, live subscriptions it pays), counted, so the
  confirmation page can say what goes. Sales to others stay as the buyers' receipts, without the seller
  (``transactions.seller_id`` is SET NULL); subscriptions are cancelled at Stripe (`DELETION_HOOKS`); everything
  else listed is removed.
- ``dependents(services, viewer)``: why the account cannot go yet: other people's devices in its apps (their
  synced data would go with the app), active subscriptions to its projects, others' completed purchases of its
  items (their license keys would go), posts it wrote in other people's projects (``blog_posts.author_id`` has
  no delete rule). Each is a sentence; none means it may go.
- ``delete_account(services, viewer, confirm_username=)``: the username typed again must match; then in one
  transaction checks ``dependents`` again and deletes the user row, letting the schema's ``ON DELETE`` rules
  remove the rest (sessions included, so every browser is signed out). A foreign key that still refuses
  (a row added meanwhile) is the same 409 ``account-has-dependents``, and nothing is deleted. Stored bytes of
  the account's sync files stay in the blob store: the rows that point at them are gone, and bytes no row
  points at are left to a blob sweep.

``DELETION_HOOKS`` (a list in `Services`, filled by higher domains in their ``start``): each ``hook(tx, user_id)``
runs inside the deletion's transaction, after the user's row is locked and the dependents checked, before the
row is deleted, so it still sees what the cascade is about to remove. Hooks enqueue durable jobs for what must
happen outside the database (commerce and the platform cancel the subscriptions the account leaves running at
Stripe); a hook that raises undoes the deletion.

Races: the user's row is locked (``FOR UPDATE``) first, so two deletions of one account at once run one after
the other; the second finds no row and does nothing (no hook runs twice).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from mnwd.accounts import queries
from mnwd.accounts.personal_tokens import REVOKE_HOOKS
from mnwd.accounts.sessions import Viewer
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, ValidationFailed
from mnwd.services import ServiceKey, Services

__all__ = ["DELETION_HOOKS", "AccountHasDependents", "delete_account", "dependents", "describe_deletion"]

DeletionHook = Callable[[Tx, uuid.UUID], Awaitable[None]]
DELETION_HOOKS = ServiceKey("accounts.deletion_hooks", list[DeletionHook])

log = logging.getLogger(__name__)

DEPENDENT_SENTENCES = {
    "app_users": "{n} other people use your apps; their devices and synced data would be deleted with them.",
    "subscribers": "{n} people have an active subscription to your projects.",
    "buyers": "{n} purchases of your items by other people must stay available to them.",
    "foreign_posts": "You wrote {n} posts in other people's projects.",
}


class AccountHasDependents(Conflict):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__(
            "Your account cannot be deleted yet, because other people depend on it: "
            + " ".join(reasons)
            + " Ask the operators of this site to close it.",
            slug="account-has-dependents",
            reasons=reasons,
        )


async def describe_deletion(services: Services, viewer: Viewer) -> dict[str, int]:
    return await queries.get_account_footprint(services.pool, viewer.user_id)


def _reasons(counts: dict[str, int]) -> list[str]:
    return [DEPENDENT_SENTENCES[k].format(n=n) for k, n in counts.items() if n and k in DEPENDENT_SENTENCES]


async def dependents(services: Services, viewer: Viewer) -> list[str]:
    return _reasons(await queries.get_account_dependents(services.pool, viewer.user_id))


async def delete_account(services: Services, viewer: Viewer, *, confirm_username: str) -> None:
    if confirm_username.strip().lower().removeprefix("@") != viewer.username:
        raise ValidationFailed(
            "The account was not deleted.",
            errors=[{"field": "confirm_username", "message": f"Type your username, {viewer.username}, to confirm."}],
        )

    async def body(tx: Tx) -> None:
        if not await queries.lock_user(tx.conn, viewer.user_id):
            return  # deleted meanwhile (a second click, another tab): nothing left to do
        reasons = _reasons(await queries.get_account_dependents(tx.conn, viewer.user_id))
        if reasons:
            raise AccountHasDependents(reasons)
        for deletion_hook in services[DELETION_HOOKS]:
            await deletion_hook(tx, viewer.user_id)
        if await queries.delete_user(tx.conn, viewer.user_id) is None:
            raise AccountHasDependents(["Something of yours is still referenced by someone else's data."])
        # Its tokens (personal and apps') went with it: this daemon forgets remembered checks at commit,
        # not when the trigger's notification comes back (other daemons do that).
        for hook in services[REVOKE_HOOKS]:
            tx.after_commit(hook)

    await run_tx(services.pool, "accounts.delete_account", body, metrics=services.metrics)
    log.info("account deleted by its owner", extra={"user_id": str(viewer.user_id)})
