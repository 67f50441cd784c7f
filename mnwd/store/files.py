"""The bytes of the catalog's files in the `BlobStore`, and what they count against a creator's storage.

- ``clean_content_type(value)`` / ``served_content_type(value)`` — the type kept with an upload, and the type
  a download is served with (only types a browser merely displays; anything else as octet-stream).
- ``exactly(chunks, size, idle)`` — a request body that must be ``size`` bytes, each chunk within ``idle``
  seconds, else `IncompleteBody` / `UploadIdle` (so the store keeps nothing).
- ``forget_files(tx, user_id, stored)`` — in the transaction that deletes version rows: their bytes leave the
  creator's storage (`mnwd.store.storage.remove_storage`) and a ``store.files_collect`` job per hash is queued.
- ``collect_file(services, sha256)`` — deletes the stored bytes when no row of any domain names them any more
  (the job's body, safe to run twice; `mnwd.blobs.references`). Media files use it too.

**Stored bytes and their rows.** The store is addressed by content and shared by every domain, so the same
bytes may be a version here and a sync blob there. An upload puts the bytes, then inserts its row holding a
shared transaction-scoped advisory lock on the hash and checks the bytes are still there; collection takes the
lock exclusively around "is it referenced?" and the delete. The lock is the one every domain takes for the
hash (`mnwd.blobs.references.hold_blob_bytes`), so a sync upload and a store collection of the same bytes
exclude each other too.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence

import asyncpg

from mnwd.blobs.references import collect_unreferenced
from mnwd.db import jobs
from mnwd.db.tx import Tx
from mnwd.errors import BadRequest, Problem
from mnwd.services import Services
from mnwd.store.queries import catalog as queries
from mnwd.store.storage import remove_storage

__all__ = [
    "COLLECT_JOB",
    "IncompleteBody",
    "LengthRequired",
    "UploadIdle",
    "clean_content_type",
    "collect_file",
    "collect_file_job",
    "exactly",
    "forget_files",
    "lock_creator",
    "served_content_type",
]

COLLECT_JOB = "store.files_collect"
MAX_CONTENT_TYPE_CHARS = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_KEY = re.compile(r"[0-9a-f]{64}")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[\x20-\x7e\t]*)?")
# Types a browser only displays, never runs: anything else (text/html, image/svg+xml, ...) is a download.
INERT_CONTENT_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
        "text/plain",
    }
)
INERT_CONTENT_TYPE_PREFIXES = ("audio/", "video/")

log = logging.getLogger(__name__)


class IncompleteBody(BadRequest):
    def __init__(self, expected: int, received: int) -> None:
        super().__init__(
            f"The body had {received} bytes where Content-Length promised {expected}; nothing was stored.",
            expected=expected,
            received=received,
        )


class LengthRequired(Problem):
    status = 411
    slug = "length-required"


class UploadIdle(Problem):
    status = 408
    slug = "request-timeout"

    def __init__(self, idle: float) -> None:
        super().__init__(
            f"No part of the body arrived for {idle:g} seconds; the upload was dropped and nothing was stored.",
            idle_seconds=idle,
        )


def clean_content_type(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_CONTENT_TYPE_CHARS or _CONTENT_TYPE.fullmatch(value) is None:
        raise BadRequest("Content-Type must be a media type such as application/zip, at most 255 characters.")
    return value


def served_content_type(content_type: str | None) -> str:
    if not content_type:
        return DEFAULT_CONTENT_TYPE
    essence = content_type.split(";", 1)[0].strip().lower()
    if essence in INERT_CONTENT_TYPES or essence.startswith(INERT_CONTENT_TYPE_PREFIXES):
        return content_type
    return DEFAULT_CONTENT_TYPE


async def exactly(chunks: AsyncIterable[bytes], size: int, idle: float) -> AsyncIterator[bytes]:
    received = 0
    iterator = aiter(chunks)
    try:
        while True:
            try:
                async with asyncio.timeout(idle):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise UploadIdle(idle) from None
            received += len(chunk)
            if received > size:
                raise IncompleteBody(size, received)
            yield chunk
    except ConnectionError:
        raise IncompleteBody(size, received) from None
    if received != size:
        raise IncompleteBody(size, received)


async def lock_creator(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await queries.lock_creator(conn, user_id)


async def forget_files(tx: Tx, user_id: uuid.UUID, stored: Sequence[asyncpg.Record]) -> None:
    total = sum(row["file_size_bytes"] or 0 for row in stored)
    if total:
        await remove_storage(tx.conn, user_id, total)
    for sha256 in sorted({row["sha256"] for row in stored if row["sha256"]}):
        await jobs.enqueue(tx.conn, COLLECT_JOB, {"sha256": sha256})


async def collect_file_job(services: Services, job: jobs.Job) -> None:
    sha256 = str(job.payload.get("sha256", ""))
    if _KEY.fullmatch(sha256) is None:
        raise jobs.PermanentJobError(f"not a blob key: {sha256!r}")
    await collect_file(services, sha256)


async def collect_file(services: Services, sha256: str) -> bool:
    """Delete the stored bytes when nothing names them; True if they were deleted."""
    return await collect_unreferenced(
        services.pool, services.blobs, services.blob_references, sha256, metrics=services.metrics
    )


async def collect_quietly(services: Services, sha256: str) -> None:
    """`collect_file` where its failure must not hide the answer: bytes left behind are only garbage."""
    try:
        await collect_file(services, sha256)
    except Exception:
        log.exception("could not collect a store file", extra={"sha256": sha256})
