"""Deletion hooks of the catalog: how a domain above the store (commerce) stops what a deleted project or item
leaves running outside the database, without the store knowing what that is.

- ``PROJECT_DELETION_HOOKS``: the list (in `Services`, installed by the store's ``start``, filled by higher
  domains in theirs) of ``hook(tx, project_id)``, run inside `mnwd.store.projects.delete_project`'s transaction
  after the project's row and its items' rows are locked and before they are deleted, so a hook still sees
  the rows the schema's cascade is about to remove (commerce: the subscriptions to the project's tiers and
  the Checkout Sessions still open for them and for its items).
- ``ITEM_DELETION_HOOKS``: the same for one item, ``hook(tx, item_id)``, in `mnwd.store.items.delete_item`.

A hook enqueues durable jobs (`mnwd.db.jobs`) and mail (`mnwd.outbound`) in ``tx``, so they exist exactly
when the deletion commits; a hook that raises undoes the deletion. Hooks run once per deletion: a second
deletion of the same row finds it gone (404) before any hook runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from mnwd.db.tx import Tx
from mnwd.services import ServiceKey, Services

__all__ = ["ITEM_DELETION_HOOKS", "PROJECT_DELETION_HOOKS", "CatalogDeletionHook", "run_deletion_hooks"]

CatalogDeletionHook = Callable[[Tx, uuid.UUID], Awaitable[None]]
PROJECT_DELETION_HOOKS = ServiceKey("store.project_deletion_hooks", list[CatalogDeletionHook])
ITEM_DELETION_HOOKS = ServiceKey("store.item_deletion_hooks", list[CatalogDeletionHook])


async def run_deletion_hooks(
    services: Services, key: ServiceKey[list[CatalogDeletionHook]], tx: Tx, row_id: uuid.UUID
) -> None:
    for hook in services[key]:
        await hook(tx, row_id)
