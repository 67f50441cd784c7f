"""The bytes of the catalog's files in the `BlobStore`, and what they count against a creator's storage.

- Uploads are read with `mnwd.web.uploads` (``exactly``, the kept and served content types).
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

import logging
import re
import uuid
from collections.abc import Sequence

import asyncpg

from mnwd.blobs.references import collect_bytes
from mnwd.db import jobs
from mnwd.db.tx import Tx
from mnwd.services import Services
from mnwd.store.queries import catalog as queries
from mnwd.store.storage import remove_storage

__all__ = [
    "COLLECT_JOB",
    "collect_file",
    "collect_file_job",
    "forget_files",
    "lock_creator",
]

COLLECT_JOB = "store.files_collect"
_KEY = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


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
    return await collect_bytes(services, sha256)
