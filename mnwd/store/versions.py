"""File versions of an item: uploads streamed into the `BlobStore`, one current version, downloads.

- ``check_version_input(version, changelog, file_name)`` — the fields of an upload, or `ValidationFailed`.
- ``check_declared_size(creator, size)`` — before a byte of the body is read: `PayloadTooLarge` (413) past the
  tier's largest file (or the user's override) or the storage left (`mnwd.store.limits.check_upload`).
- ``store_version(services, creator, item, upload, chunks, size=)`` — streams ``chunks`` into the store
  (exactly ``size`` bytes when declared; else at most the largest file allowed), then in one transaction
  records the version as the item's current one and counts its bytes (`mnwd.store.storage.add_storage`, 413
  when the storage would overflow). On any failure nothing is recorded and unreferenced bytes are collected.
- ``delete_version(services, item, version_id)`` — the row goes, its bytes leave the creator's storage; if it
  was current, the newest remaining version becomes current.
- ``find_download(pool, item, number)`` / ``count_download(pool, version)``.

**Exactly one current version.** Every writer of an item's versions (upload, delete) first locks the item's
row (``SELECT ... FOR UPDATE``), then clears the current flag and sets it on its own row, so concurrent uploads
commit one after the other and the last to commit is current; the partial unique index
``versions_one_current_per_item`` would refuse a second current row if anything skipped the lock. A version
number is unique per item (`VersionTaken`, 409), checked by the constraint, not by a read before the write.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mnwd.blobs import BlobTooLarge
from mnwd.blobs.references import collect_bytes, hold_blob_bytes
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, PayloadTooLarge
from mnwd.services import Services
from mnwd.store import files, notices
from mnwd.store.creators import Creator
from mnwd.store.fields import FieldErrors, VersionTaken
from mnwd.store.items import Item
from mnwd.store.limits import check_upload, limits_for
from mnwd.store.queries import catalog as queries
from mnwd.store.storage import add_storage
from mnwd.web.uploads import clean_content_type, exactly

__all__ = [
    "UPLOAD_IDLE_SECONDS",
    "Upload",
    "Version",
    "check_declared_size",
    "check_version_input",
    "count_download",
    "delete_version",
    "find_download",
    "largest_file",
    "list_versions",
    "store_version",
]

UPLOAD_IDLE_SECONDS = 60.0
VERSION_NUMBER = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
# Letters and digits of any script, and a few marks; never a path, a leading dot or a control character.
FILE_NAME = re.compile(r"^\w[\w. ()+-]{0,199}$")
MAX_CHANGELOG_CHARS = 20_000
NO_SUCH_VERSION = "There is no such version."


@dataclass(frozen=True)
class Version:
    id: uuid.UUID
    item_id: uuid.UUID
    version_number: str
    changelog: str | None
    file_name: str | None
    content_type: str | None
    file_size_bytes: int
    sha256: str
    is_current: bool
    download_count: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Version:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def as_json(self, item: Item) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "version": self.version_number,
            "changelog": self.changelog,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size": self.file_size_bytes,
            "sha256": self.sha256,
            "current": self.is_current,
            "download_count": self.download_count,
            "download_url": f"{item.url}/download?version={self.version_number}",
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Upload:
    version: str
    changelog: str | None
    file_name: str
    content_type: str | None


def check_version_input(version: str, changelog: str | None, file_name: str, content_type: str | None) -> Upload:
    errors = FieldErrors()
    version = version.strip()
    if not VERSION_NUMBER.fullmatch(version):
        errors.add("version", "A version is 1 to 64 letters, digits, '.', '+', '-' or '_', such as 1.2.0.")
    log = errors.text("changelog", changelog, MAX_CHANGELOG_CHARS)
    name = file_name.strip()
    if not FILE_NAME.fullmatch(name) or ".." in name:
        errors.add("filename", "A file name is letters, digits, spaces and ._-+() (no path), at most 200 characters.")
    errors.raise_if_any("The file was not uploaded.")
    return Upload(version, log, name, clean_content_type(content_type))


def largest_file(creator: Creator) -> int:
    return max(limits_for(creator.creator_tier).largest_file_bytes, creator.max_file_override_bytes or 0)


def check_declared_size(creator: Creator, size: int) -> None:
    check_upload(
        tier=creator.creator_tier,
        override_bytes=creator.max_file_override_bytes,
        used_bytes=creator.storage_used_bytes,
        size=size,
    )


async def store_version(
    services: Services,
    creator: Creator,
    item: Item,
    upload: Upload,
    chunks: AsyncIterable[bytes],
    *,
    size: int | None,
) -> Version:
    largest = largest_file(creator)
    try:
        if size is not None:
            stream = exactly(chunks, size, UPLOAD_IDLE_SECONDS)
            info = await services.blobs.put(stream, max_size=size)
        else:
            info = await services.blobs.put(chunks, max_size=largest)
    except BlobTooLarge:
        raise PayloadTooLarge(
            f"The file is larger than the {largest:,} bytes your tier allows for one file.", limit=largest
        ) from None
    if info.size > largest:
        await collect_bytes(services, info.sha256, quietly=True)
        raise PayloadTooLarge(f"The file is larger than the {largest:,} bytes allowed.", limit=largest)
    limits = limits_for(creator.creator_tier)

    async def record(tx: Tx) -> Version:
        await hold_blob_bytes(tx.conn, info.sha256)
        if not await queries.lock_item(tx.conn, item.id):
            raise NotFound("The item was deleted while the file was uploading.")
        await queries.clear_current_version(tx.conn, item.id)
        try:
            async with tx.conn.transaction():
                row = await queries.insert_version(
                    tx.conn,
                    item.id,
                    version_number=upload.version,
                    changelog=upload.changelog,
                    file_name=upload.file_name,
                    content_type=upload.content_type,
                    size=info.size,
                    sha256=info.sha256,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "versions_item_id_version_number_key":
                raise VersionTaken(upload.version) from None
            raise
        await add_storage(tx.conn, creator.id, info.size, limit=limits.storage_bytes, tier=limits.tier)
        await queries.touch_item(tx.conn, item.id)
        if not await services.blobs.exists(info.sha256):
            raise Conflict("The stored file was removed while it was recorded; upload it again.")
        version = Version.from_row(row)
        await notices.queue_release_mail(tx.conn, version.id)
        tx.after_commit(services.jobs.wake)
        return version

    try:
        return await run_tx(services.pool, "store.versions.put", record, metrics=services.metrics)
    except Exception:
        await collect_bytes(services, info.sha256, quietly=True)
        raise


async def list_versions(pool: asyncpg.Pool, item: Item) -> list[Version]:
    return [Version.from_row(row) for row in await queries.list_versions(pool, item.id)]


async def get_item_version(pool: asyncpg.Pool, item: Item, version_id: uuid.UUID) -> Version:
    row = await queries.get_version(pool, version_id)
    if row is None or row["item_id"] != item.id:
        raise NotFound(NO_SUCH_VERSION)
    return Version.from_row(row)


async def delete_version(services: Services, item: Item, version_id: uuid.UUID) -> None:
    async def delete(tx: Tx) -> None:
        if not await queries.lock_item(tx.conn, item.id):
            raise NotFound(NO_SUCH_VERSION)
        row = await queries.get_version(tx.conn, version_id)
        if row is None or row["item_id"] != item.id:
            raise NotFound(NO_SUCH_VERSION)
        await queries.delete_version(tx.conn, version_id)
        if row["is_current"]:
            await queries.make_newest_version_current(tx.conn, item.id)
        await files.forget_files(tx, item.user_id, [row])
        await queries.touch_item(tx.conn, item.id)

    await run_tx(services.pool, "store.versions.delete", delete, metrics=services.metrics)


async def find_download(pool: asyncpg.Pool, item: Item, number: str | None) -> Version:
    """The version asked for by number, or the current one."""
    if number:
        row = await queries.get_version_by_number(pool, item.id, number)
    else:
        row = await queries.get_current_version(pool, item.id)
    if row is None:
        raise NotFound("This item has no such file." if number else "This item has no file yet.")
    return Version.from_row(row)


async def count_download(pool: asyncpg.Pool, version: Version) -> None:
    await queries.count_download(pool, version.id, version.item_id)
