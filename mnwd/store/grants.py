"""Download grants: how a domain above the store (commerce) says that someone may have a paid item's files.

``add_download_grant(app, grant)`` is called from that domain's ``routes``; ``grant(request, item_id,
viewer_id)`` answers whether this request may download the item (a purchase by the viewer, or a signed link
in the query). `may_download` asks the store's own rule first (`items.can_download`: the owner, free items),
then each grant in the order added. The store itself knows nothing of purchases.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from mnwd.store.items import Item, can_download

__all__ = ["DownloadGrant", "add_download_grant", "may_download"]

DownloadGrant = Callable[[web.Request, uuid.UUID, uuid.UUID | None], Awaitable[bool]]
GRANTS = web.AppKey("store.download_grants", list[DownloadGrant])


def add_download_grant(app: web.Application, grant: DownloadGrant) -> None:
    if GRANTS not in app:
        app[GRANTS] = []
    app[GRANTS].append(grant)


async def may_download(request: web.Request, item: Item, viewer_id: uuid.UUID | None) -> bool:
    if can_download(item, viewer_id):
        return True
    if not (item.is_public and item.project_is_public and item.owner_active):
        return False
    for grant in request.app.get(GRANTS, []):
        if await grant(request, item.id, viewer_id):
            return True
    return False
