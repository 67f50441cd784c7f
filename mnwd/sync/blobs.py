"""Blobs of one (app, user): content-addressed uploads with a size limit and a per-user quota.

A blob is named by the SHA-256 of its bytes. The bytes live once in the `BlobStore` (shared by every app and
user); a ``sync_blobs`` row per (app, user, hash) says who may read them and is what the quota counts:
``users.storage_used_bytes`` grows by the blob's size when a row is inserted and shrinks when it is deleted,
in the same transaction, so the same bytes in two apps count twice and a second upload in one app not at all.

The interface the routes call:

- ``parse_blob_key(value)`` — the path's hash, or `BadRequest`; nothing else sees an unchecked key.
- ``get_blob(pool, bearer, sha256)`` — this caller's blob or None (another user's bytes are not theirs).
- ``prepare_upload(services, bearer, sha256, size)`` — the checks that need no body: size limit, an existing
  blob (returned, for a dedup answer without reading the body). Raises `PayloadTooLarge`.
- ``reserve_upload(services, bearer, sha256, size)`` — a context holding this upload's place while its body
  arrives: at most ``MNWD_SYNC_MAX_UPLOADS`` per user (`TooManyRequests`), and its bytes counted against the
  quota with those already stored and those of the user's other uploads in progress (`QuotaExceeded`), so
  unfinished uploads cannot stage more than the quota. Released when the upload ends, however it ends.
- ``store_blob(services, bearer, sha256, size, content_type, chunks)`` — streams the body into the store
  (hash checked by the store) and records it; ``(blob, created)``. Raises `BlobHashMismatchProblem`,
  `mnwd.web.uploads.IncompleteBody`, `UploadIdle` (no byte for ``MNWD_SYNC_UPLOAD_IDLE_TIMEOUT``), `QuotaExceeded` or
  `Conflict`; then no row is kept, no staged file is left and the quota is unchanged.
- ``delete_blob(services, bearer, sha256)`` — removes the caller's row, gives back the quota and queues a
  ``sync.blobs.collect`` job; `NotFound` if none. It does the same work whether or not someone else stores
  the same bytes, so its timing does not tell.
- ``collect_blob(services, sha256)`` — deletes the stored bytes when no row of any domain names them (the
  job's body; `mnwd.blobs.references`: the same bytes may also be a media image or an item's file).

**Reservations are per daemon.** The quota in ``users.storage_used_bytes`` is shared by every daemon; the
bytes of uploads still in progress are counted by the daemon receiving them (`UploadReservations`), so with
N daemons a user can have at most N * quota staged at once, each upload bounded by the blob size limit.

**Stored bytes and their rows.** The store's put happens before the row exists (the hash is only known to be
right at the end of the body), so "no row references this hash" does not by itself make deleting the file
safe: another upload of the same bytes may be between its put and its insert. A transaction-scoped advisory
lock per hash (`mnwd.blobs.references`, shared with every domain storing bytes) closes that race: an upload
takes it shared around its insert and, holding it, checks that the bytes are still stored (else 409, upload
again); `collect_blob` takes it exclusive around the check for rows and the delete. So a file is deleted
only while no upload is recording it, and an upload never records a file that is gone.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from mnwd.blobs import BlobHashMismatch
from mnwd.blobs.references import collect_bytes, hold_blob_bytes
from mnwd.db import jobs
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, TooManyRequests
from mnwd.oauth import Bearer
from mnwd.services import ServiceKey, Services
from mnwd.sync import queries
from mnwd.sync.settings import SyncSettings
from mnwd.web.uploads import exactly

__all__ = [
    "COLLECT_JOB",
    "UPLOADS",
    "Blob",
    "BlobHashMismatchProblem",
    "QuotaExceeded",
    "UploadReservations",
    "collect_blob",
    "collect_blob_job",
    "delete_blob",
    "get_blob",
    "parse_blob_key",
    "prepare_upload",
    "reserve_upload",
    "store_blob",
]

COLLECT_JOB = "sync.blobs_collect"
UPLOAD_RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str
    size: int
    content_type: str | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Blob:
        return cls(row["hash"], row["size_bytes"], row["content_type"])

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size}


class BlobHashMismatchProblem(BadRequest):
    slug = "blob-hash-mismatch"

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"The body hashes to {actual}, not to {expected} named in the address; nothing was stored.",
            expected=expected,
            actual=actual,
        )


class QuotaExceeded(PayloadTooLarge):
    """``limit`` is the quota; ``used`` what the user stores now; ``size`` the blob refused."""

    slug = "quota-exceeded"

    def __init__(self, *, quota: int, used: int, size: int) -> None:
        super().__init__(
            f"Storing these {size} bytes would exceed your storage quota: {used} of {quota} bytes are used, "
            f"{max(quota - used, 0)} are free. Delete blobs you no longer need.",
            limit=quota,
            used=used,
            size=size,
        )


@dataclass
class _InFlight:
    uploads: int = 0
    reserved: int = 0


@dataclass
class UploadReservations:
    """This daemon's blob uploads in progress, per user: how many, and how many bytes they may still add."""

    _by_user: dict[uuid.UUID, _InFlight] = field(default_factory=dict)

    def uploads(self, user_id: uuid.UUID) -> int:
        found = self._by_user.get(user_id)
        return 0 if found is None else found.uploads

    def reserved(self, user_id: uuid.UUID) -> int:
        found = self._by_user.get(user_id)
        return 0 if found is None else found.reserved

    @contextlib.contextmanager
    def hold(self, user_id: uuid.UUID, size: int) -> Iterator[None]:
        entry = self._by_user.setdefault(user_id, _InFlight())
        entry.uploads += 1
        entry.reserved += size
        try:
            yield
        finally:
            entry.uploads -= 1
            entry.reserved -= size
            if entry.uploads == 0:
                del self._by_user[user_id]


UPLOADS = ServiceKey("sync.uploads", UploadReservations)


def parse_blob_key(value: str) -> str:
    """``value`` if it is a blob address (64 lowercase hex digits), else `BadRequest`."""
    if _KEY.fullmatch(value) is None:
        raise BadRequest("A blob address is the SHA-256 of its content: 64 lowercase hexadecimal digits.")
    return value


async def get_blob(pool: asyncpg.Pool, bearer: Bearer, sha256: str) -> Blob | None:
    row = await queries.get_blob(pool, bearer.app_id, bearer.user_id, sha256)
    return None if row is None else Blob.from_row(row)


async def prepare_upload(services: Services, bearer: Bearer, sha256: str, size: int) -> Blob | None:
    """The checks made before any other; returns the caller's blob if they already have it."""
    limit = services.config.section(SyncSettings).max_blob_bytes
    if size > limit:
        raise PayloadTooLarge(f"A blob may have at most {limit} bytes; this one has {size}.", limit=limit)
    existing = await get_blob(services.pool, bearer, sha256)
    if existing is not None and await services.blobs.exists(sha256):
        return existing
    return None


@contextlib.asynccontextmanager
async def reserve_upload(services: Services, bearer: Bearer, sha256: str, size: int) -> AsyncIterator[None]:
    """Hold a place for this upload while its body arrives (see the module docstring)."""
    settings = services.config.section(SyncSettings)
    uploads = services[UPLOADS]
    usage = await queries.get_storage_usage(services.pool, bearer.user_id, settings.quota_bytes)
    if usage is None:
        raise NotFound("There is no such user.")
    # A row whose bytes the store lost is repaired by this upload: it adds nothing to the quota.
    repairing = await get_blob(services.pool, bearer, sha256) is not None
    # No await from here to `hold`: the checks and the reservation are one step for this daemon.
    if uploads.uploads(bearer.user_id) >= settings.max_uploads:
        raise TooManyRequests(
            f"You have {settings.max_uploads} uploads in progress already; retry when one has finished.",
            retry_after=UPLOAD_RETRY_AFTER_SECONDS,
        )
    counted = 0 if repairing else size
    used = usage["used"] + uploads.reserved(bearer.user_id)
    if used + counted > usage["quota"]:
        raise QuotaExceeded(quota=usage["quota"], used=used, size=size)
    with uploads.hold(bearer.user_id, counted):
        yield


async def store_blob(
    services: Services,
    bearer: Bearer,
    sha256: str,
    size: int,
    content_type: str | None,
    chunks: AsyncIterable[bytes],
) -> tuple[Blob, bool]:
    """Stream ``chunks`` into the store and record the blob for this caller; True if it is new to them."""
    idle = services.config.section(SyncSettings).upload_idle_timeout
    try:
        await services.blobs.put(exactly(chunks, size, idle), expected_sha256=sha256, max_size=size)
    except BlobHashMismatch as exc:
        raise BlobHashMismatchProblem(exc.expected, exc.actual) from None

    quota = services.config.section(SyncSettings).quota_bytes

    async def record(tx: Tx) -> tuple[Blob, bool]:
        await hold_blob_bytes(tx.conn, sha256)
        row = await queries.insert_blob(
            tx.conn, bearer.app_id, bearer.user_id, sha256, s3_key=sha256, size=size, content_type=content_type
        )
        if row is None:
            # Already theirs (a concurrent upload of the same bytes won): nothing more to count.
            existing = await queries.get_blob(tx.conn, bearer.app_id, bearer.user_id, sha256)
            if existing is None:
                raise Conflict("The blob was deleted while you uploaded it; upload it again.")
            return Blob.from_row(existing), False
        if await queries.add_storage_used(tx.conn, bearer.user_id, size, quota) is None:
            usage = await queries.get_storage_usage(tx.conn, bearer.user_id, quota)
            if usage is None:
                raise NotFound("There is no such user.")
            raise QuotaExceeded(quota=usage["quota"], used=usage["used"], size=size)
        if not await services.blobs.exists(sha256):
            raise Conflict("The stored content was removed while you uploaded it; upload it again.")
        return Blob.from_row(row), True

    try:
        return await run_tx(services.pool, "sync.blobs.put", record, metrics=services.metrics)
    except Exception:
        await collect_bytes(services, sha256, quietly=True)
        raise


async def delete_blob(services: Services, bearer: Bearer, sha256: str) -> None:
    """Forget this caller's blob and give its bytes back to their quota. Whether the stored bytes go (nobody
    else has them) is decided later by the ``sync.blobs_collect`` job queued here, whoever else has them."""

    async def forget(tx: Tx) -> bool:
        size = await queries.delete_blob(tx.conn, bearer.app_id, bearer.user_id, sha256)
        if size is None:
            return False
        await queries.release_storage_used(tx.conn, bearer.user_id, size)
        await jobs.enqueue(tx.conn, COLLECT_JOB, {"sha256": sha256})
        return True

    if not await run_tx(services.pool, "sync.blobs.delete", forget, metrics=services.metrics):
        raise NotFound("There is no such blob.")


async def collect_blob_job(services: Services, job: jobs.Job) -> None:
    """The ``sync.blobs_collect`` job: `collect_blob` of its hash (safe to run twice)."""
    await collect_blob(services, parse_blob_key(str(job.payload["sha256"])))


async def collect_blob(services: Services, sha256: str) -> bool:
    """Delete the stored bytes of ``sha256`` if no row of any domain names them; True if they were deleted."""
    return await collect_bytes(services, sha256)
