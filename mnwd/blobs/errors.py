"""Errors of the blob store.

Exception tree::

    MnwdError (mnwd.errors)
    └── BlobError                  anything the blob store raises on purpose
        ├── BlobNotFound           no blob under that hash; ``sha256``
        ├── BlobHashMismatch       the content did not hash to what the caller expected; ``expected``, ``actual``
        ├── BlobTooLarge           the stream went past ``max_size``; ``limit``
        ├── BlobStorageFull        also InsufficientStorage (507): the disk is full (ENOSPC, EDQUOT); ``errno``
        ├── InvalidBlobKey         also ValueError: not 64 lowercase hex digits; ``value``
        └── InvalidBlobRange       also ValueError: negative start, or end before start; ``start``, ``end``

``BlobHashMismatch``, ``BlobTooLarge``, ``BlobStorageFull`` and any exception raised by the caller's stream
leave nothing stored (the staged file is removed). Other errors of the backend itself (S3 access denied, an
I/O error) are not wrapped: they reach the caller as ``OSError`` or ``botocore`` exceptions and are a 500,
not the client's fault.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator

from mnwd.errors import InsufficientStorage, MnwdError

log = logging.getLogger(__name__)

__all__ = [
    "BlobError",
    "BlobHashMismatch",
    "BlobNotFound",
    "BlobStorageFull",
    "BlobTooLarge",
    "InvalidBlobKey",
    "InvalidBlobRange",
    "mapping_full_disk",
]

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class BlobError(MnwdError):
    """Base of the errors the blob store raises on purpose."""


class BlobNotFound(BlobError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256}")
        self.sha256 = sha256


class BlobHashMismatch(BlobError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"content hashes to {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual


class BlobTooLarge(BlobError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob is larger than {limit} bytes")
        self.limit = limit


class BlobStorageFull(BlobError, InsufficientStorage):
    """Also a `Problem` (507 insufficient-storage): the full disk is the server's, and the client may retry."""

    def __init__(self, code: int) -> None:
        super().__init__("The server is out of storage space, so the blob was not stored. Try again later.")
        self.errno = code


@contextlib.contextmanager
def mapping_full_disk() -> Iterator[None]:
    """Turn an ``OSError`` for a full disk or an exhausted disk quota into `BlobStorageFull`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            log.error("blob store out of space: %s", exc)
            raise BlobStorageFull(exc.errno) from exc
        raise


class InvalidBlobKey(BlobError, ValueError):
    def __init__(self, value: object) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"a blob key is 64 lowercase hex digits, not {shown}")
        self.value = value


class InvalidBlobRange(BlobError, ValueError):
    def __init__(self, start: int, end: int | None) -> None:
        super().__init__(f"invalid byte range start={start} end={end}")
        self.start = start
        self.end = end
