"""The buyer's library (``/library``) and who may download a paid item's files.

`list_library(services, buyer_id, now)`: the buyer's purchases (completed and refunded), each with the items
it grants (a bundle: its parts) and, while it grants access, a download link per item with a file that carries a signed
grant valid `LINK_SECONDS`: ``{item_url}/download?grant=<transaction>.<item>.<expires>.<hmac>``. The links are
made again on each visit; a link works without cookies (a download manager) but only until it expires, and
only while the purchase still grants access (a refund or a lost dispute ends it at once).

`may_download(services, item_id, viewer_id, grant)` is what commerce registers with the store
(`mnwd.store.add_download_grant`): a valid grant for this item, or a purchase by the signed-in viewer.
A grant names a transaction, but its HMAC is over transaction, item and expiry together: another buyer's
transaction id with a made-up or borrowed signature is refused.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field

import asyncpg

from mnwd.commerce import queries
from mnwd.services import Services

__all__ = ["LINK_SECONDS", "LibraryEntry", "LibraryItem", "list_library", "may_download", "sign_grant"]

LINK_SECONDS = 600
PURPOSE = "commerce.download-grant"


def _mac(services: Services, transaction_id: uuid.UUID, item_id: uuid.UUID, expires: int) -> str:
    message = f"{transaction_id}.{item_id}.{expires}".encode()
    return services.keyring.mac(PURPOSE, message).hex()[:40]


def sign_grant(services: Services, transaction_id: uuid.UUID, item_id: uuid.UUID, now: float) -> str:
    expires = int(now) + LINK_SECONDS
    return f"{transaction_id}.{item_id}.{expires}.{_mac(services, transaction_id, item_id, expires)}"


async def may_download(
    services: Services, item_id: uuid.UUID, viewer_id: uuid.UUID | None, grant: str | None, now: float
) -> bool:
    if grant:
        parts = grant.split(".")
        if len(parts) == 4:
            try:
                transaction_id, granted_item, expires = uuid.UUID(parts[0]), uuid.UUID(parts[1]), int(parts[2])
            except ValueError:
                return False
            expected = _mac(services, transaction_id, granted_item, expires)
            if granted_item == item_id and expires >= now and hmac.compare_digest(expected, parts[3]):
                row = await queries.get_transaction(services.pool, transaction_id)
                return row is not None and await queries.grants_item(
                    services.pool, transaction_id, row["buyer_id"], item_id
                )
        return False
    if viewer_id is None:
        return False
    return await queries.owns_item(services.pool, viewer_id, item_id)


@dataclass(frozen=True)
class LibraryItem:
    id: uuid.UUID
    title: str
    url: str
    download_url: str | None


@dataclass
class LibraryEntry:
    transaction: asyncpg.Record
    items: list[LibraryItem] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.transaction["grants_access"])

    @property
    def state(self) -> str:
        row = self.transaction
        if row["status"] == "refunded":
            return "refunded"
        if row["dispute_status"] in {"open", "lost"}:
            return "disputed"
        if row["refunded_cents"]:
            return "partially refunded"
        return "paid"


async def list_library(services: Services, buyer_id: uuid.UUID, now: float) -> list[LibraryEntry]:
    rows = await queries.list_library(services.pool, buyer_id)
    bundles = [r["item_id"] for r in rows if r["item_type"] == "bundle" and r["item_id"] is not None]
    parts: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for part in await queries.list_library_parts(services.pool, bundles) if bundles else []:
        parts.setdefault(part["bundle_id"], []).append(part)
    entries = []
    for row in rows:
        entry = LibraryEntry(row)
        if row["item_id"] is not None:
            url = f"/@{row['seller_username']}/{row['project_slug']}/{row['item_slug']}"
            targets = [(row["item_id"], row["item_title"], url, row["has_file"])]
            targets += [
                (p["id"], p["title"], f"/@{p['owner']}/{p['project_slug']}/{p['slug']}", p["has_file"])
                for p in parts.get(row["item_id"], [])
            ]
            for item_id, title, item_url, has_file in targets:
                link = None
                if entry.active and has_file:
                    link = f"{item_url}/download?grant={sign_grant(services, row['id'], item_id, now)}"
                entry.items.append(LibraryItem(item_id, title, item_url, link))
        entries.append(entry)
    return entries
