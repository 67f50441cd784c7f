"""The `BlobStore` interface: immutable blobs addressed by the SHA-256 of their content.

A key is the hex SHA-256 of the content, 64 lowercase hex digits, checked by every method before
anything touches the disk or S3. Byte ranges are half-open like Python slices: ``start`` is the
first byte served, ``end`` the first byte not served (``None``: to the end), and both are clamped
to the blob's size. An HTTP ``Range: bytes=a-b`` is therefore ``start=a, end=b + 1``; whether it is
satisfiable is for the caller to decide from ``BlobStream.size``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from mnwd.blobs.errors import InvalidBlobKey, InvalidBlobRange

__all__ = [
    "BlobInfo",
    "BlobStore",
    "BlobStream",
    "StoredBlob",
    "check_blob_key",
    "check_blob_range",
    "clamp_blob_range",
    "is_blob_key",
]

LIST_PAGE_MAX = 1000

_KEY = re.compile(r"[0-9a-f]{64}")


def is_blob_key(name: str) -> bool:
    return _KEY.fullmatch(name) is not None


def check_blob_key(value: object) -> str:
    """Return ``value`` if it is a blob key, else raise `InvalidBlobKey`."""
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        raise InvalidBlobKey(value)
    return value


def check_blob_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise InvalidBlobRange(start, end)


def check_list_page(after: str, limit: int) -> None:
    if after and not is_blob_key(after):
        raise InvalidBlobKey(after)
    if not 1 <= limit <= LIST_PAGE_MAX:
        raise ValueError(f"limit must be between 1 and {LIST_PAGE_MAX}, not {limit}")


def clamp_blob_range(start: int, end: int | None, size: int) -> tuple[int, int]:
    """The half-open range actually served from a blob of ``size`` bytes."""
    stop = size if end is None else min(end, size)
    return min(start, stop), stop


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as a listing sees it: its key and when its bytes were last written (Unix seconds)."""

    sha256: str
    written_at: float


@dataclass(frozen=True, slots=True)
class BlobInfo:
    sha256: str
    size: int


class BlobStream:
    """An opened blob: bytes ``[start, end)`` of a blob of ``size`` bytes, read by async iteration.

    Reading holds a file or an HTTP connection until the last chunk or `aclose`; use it as
    ``async with await store.open(key) as stream:`` when it may not be read to the end.
    """

    def __init__(self, sha256: str, size: int, start: int, end: int, chunks: AsyncGenerator[bytes, None]) -> None:
        self.sha256 = sha256
        self.size = size
        self.start = start
        self.end = end
        self._chunks = chunks

    @property
    def length(self) -> int:
        return self.end - self.start

    def __aiter__(self) -> BlobStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._chunks)

    async def read(self) -> bytes:
        """The whole range in memory: for small blobs and tests."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        await self._chunks.aclose()

    async def __aenter__(self) -> BlobStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class BlobStore(Protocol):
    """Where blobs live. Every method raises `InvalidBlobKey` for a malformed key before any I/O."""

    staging_dir: Path
    """Where puts are staged (``put-*.part``); a crash leaves them there (`mnwd.blobs.sweep_stale_staged`)."""

    async def put(
        self, stream: AsyncIterable[bytes], *, expected_sha256: str | None = None, max_size: int | None = None
    ) -> BlobInfo:
        """Store the bytes of ``stream``, read chunk by chunk, and return their hash and size.

        Raises `BlobHashMismatch` if they do not hash to ``expected_sha256`` and `BlobTooLarge` as soon
        as more than ``max_size`` bytes arrive; an exception from ``stream`` propagates unchanged. In all
        three cases nothing is stored. Storing content that is already there succeeds and changes nothing.
        """
        ...

    async def open(self, sha256: str, *, start: int = 0, end: int | None = None) -> BlobStream:
        """Open bytes ``[start, end)`` for reading; raises `BlobNotFound`, or `InvalidBlobRange`."""
        ...

    async def open_file(self, sha256: str, *, start: int = 0, end: int | None = None) -> BinaryIO | None:
        """The blob's own file, opened for reading, when this store keeps blobs as files on the local disk: for
        sending bytes ``[start, end)`` without copying them through Python (``sendfile``), which the store asks
        the kernel to read ahead. None when the store has no such file (S3) or the blob is not stored; use
        `open` then. The caller closes the file. Once opened, its bytes stay readable whatever happens to
        the blob (a delete removes the name, not the open file), and they never change (a put of the same
        content replaces the name with the same bytes)."""
        ...

    async def stat(self, sha256: str) -> BlobInfo | None:
        """The blob's size, or None if it is not stored."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; True if it was there."""
        ...

    async def list_page(self, after: str, limit: int) -> list[StoredBlob]:
        """Up to ``limit`` (1 to `LIST_PAGE_MAX`) stored blobs whose keys sort after ``after`` ("" for the
        first page), in key order. Anything in the store that is not a blob (staged files) is skipped."""
        ...

    async def presigned_url(self, sha256: str, *, expires_in: int = 3600) -> str | None:
        """A URL a client can GET the blob from directly, or None if this store has none.

        The URL is signed, not checked: for a blob that does not exist it answers 404.
        """
        ...

    async def close(self) -> None:
        """Release threads and connections; the store is not used afterwards."""
        ...
