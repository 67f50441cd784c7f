"""Who still needs a blob's bytes. The blob store is content-addressed and shared by every domain: the same
bytes uploaded as a sync blob, a media image and an item's file version are stored once, under their
SHA-256. So bytes may be deleted only when *no* domain's row names them.

- Each domain that keeps bytes names its rows with a `ReferenceCheck` (``Domain.blob_references``):
  ``check(conn, sha256) -> bool``, true while one of its rows names the bytes. `mnwd.services` collects them
  all in ``Services.blob_references``.
- `hold_blob_bytes(conn, sha256)`: taken (shared) by the transaction that records a row naming bytes it has
  just stored, after checking the bytes are still there.
- `collect_unreferenced(...)`: takes the same lock exclusively, asks every check, and deletes the bytes
  only when none names them. `collect_bytes(services, sha256, quietly=...)` is the same for the daemon's
  `Services`; ``quietly`` logs a failure instead of raising, for the clean-up after an answer is decided
  (bytes left behind are only garbage).

The race handled: an upload stores bytes that already exist while another request deletes the last row
naming them. With the lock, either the collector runs first (the bytes are gone: the recording
transaction sees it and asks for the upload again), or the row commits first (the collector sees it and
keeps the bytes). Never a row naming deleted bytes.

`sweep_unreferenced(services, after, written_before=...)` walks the store a page at a time and collects every
blob written before ``written_before`` that no row names: the bytes a cascade left behind (an app deleted
with its OTA artifacts, an account with its sync blobs: the database deletes the rows, and nobody is there
to ask for the bytes to go). Bytes written since are left alone, so an upload whose row is about to be
recorded is not made to start again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeAlias

import asyncpg

from mnwd.blobs import queries
from mnwd.blobs.store import BlobStore
from mnwd.db.tx import Tx, run_tx
from mnwd.metrics import Metrics

__all__ = [
    "ReferenceCheck",
    "blob_lock_key",
    "collect_bytes",
    "collect_unreferenced",
    "hold_blob_bytes",
    "sweep_unreferenced",
]

log = logging.getLogger(__name__)

ReferenceCheck: TypeAlias = Callable[[asyncpg.Connection, str], Awaitable[bool]]


def blob_lock_key(sha256: str) -> int:
    """The signed 64-bit key of the advisory lock that orders recording and deleting these bytes."""
    digest = hashlib.sha256(b"sync-blob:" + sha256.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold_blob_bytes(conn: asyncpg.Connection, sha256: str) -> None:
    """In the transaction that records a row naming ``sha256``: no collection deletes them until it ends."""
    await queries.lock_hash(conn, blob_lock_key(sha256), exclusive=False)


async def collect_unreferenced(
    pool: asyncpg.Pool,
    store: BlobStore,
    checks: Sequence[ReferenceCheck],
    sha256: str,
    *,
    metrics: Metrics | None = None,
) -> bool:
    """Deletes the stored bytes of ``sha256`` when no check finds a row naming them; True if deleted."""

    async def collect(tx: Tx) -> bool:
        await queries.lock_hash(tx.conn, blob_lock_key(sha256), exclusive=True)
        for check in checks:
            if await check(tx.conn, sha256):
                return False
        return await store.delete(sha256)

    return await run_tx(pool, "blobs.collect", collect, metrics=metrics)


class BlobHolder(Protocol):
    """What `collect_bytes` needs of `mnwd.services.Services`."""

    @property
    def pool(self) -> asyncpg.Pool: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def blob_references(self) -> Sequence[ReferenceCheck]: ...

    @property
    def metrics(self) -> Metrics: ...


async def collect_bytes(services: BlobHolder, sha256: str, *, quietly: bool = False) -> bool:
    try:
        return await collect_unreferenced(
            services.pool, services.blobs, services.blob_references, sha256, metrics=services.metrics
        )
    except Exception:
        if not quietly:
            raise
        log.exception("could not collect stored bytes", extra={"sha256": sha256})
        return False


async def sweep_unreferenced(
    services: BlobHolder, after: str, *, written_before: float, limit: int = 500
) -> tuple[str, int]:
    """One page of the walk, from the key ``after`` ("" to start): the key to continue from ("" once the
    store has been walked to its end) and how many blobs were deleted. A blob that cannot be collected now
    (a failing check, the store unreachable) is logged and left for the next walk."""
    page = await services.blobs.list_page(after, limit)
    deleted = 0
    for blob in page:
        if blob.written_at < written_before and await collect_bytes(services, blob.sha256, quietly=True):
            deleted += 1
    return (page[-1].sha256 if len(page) == limit else ""), deleted
