"""Content-addressed blob storage: `LocalBlobStore` on disk, `S3BlobStore` in a bucket.

See `mnwd.blobs.store` for the interface and `mnwd.blobs.errors` for the exception tree. `S3BlobStore` (and
boto3 with it, a fifth of a second) is imported on first use: a daemon without a bucket never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnwd.blobs.errors import (
    BlobError,
    BlobHashMismatch,
    BlobNotFound,
    BlobTooLarge,
    InvalidBlobKey,
    InvalidBlobRange,
)
from mnwd.blobs.local import LocalBlobStore
from mnwd.blobs.staging import sweep_stale_staged
from mnwd.blobs.store import BlobInfo, BlobStore, BlobStream, check_blob_key

if TYPE_CHECKING:
    from mnwd.blobs.s3 import S3BlobStore

__all__ = [
    "BlobError",
    "BlobHashMismatch",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStream",
    "BlobTooLarge",
    "InvalidBlobKey",
    "InvalidBlobRange",
    "LocalBlobStore",
    "S3BlobStore",
    "check_blob_key",
    "create_blob_store",
    "sweep_stale_staged",
]


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from mnwd.blobs.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_blob_store(
    *,
    data_dir: Path,
    s3_bucket: str | None,
    s3_prefix: str = "",
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
) -> BlobStore:
    """The store the configuration asks for: S3 if a bucket is given, else files under ``data_dir/blobs``.

    Either way a put is staged in ``data_dir/blobs/tmp`` (for S3 rather than the system temporary
    directory, which may be a memory-backed tmpfs).
    """
    if s3_bucket is None:
        return LocalBlobStore(data_dir / "blobs")
    from mnwd.blobs.s3 import S3BlobStore

    return S3BlobStore(
        s3_bucket,
        prefix=s3_prefix,
        endpoint_url=s3_endpoint_url,
        region=s3_region,
        staging_dir=data_dir / "blobs" / "tmp",
    )
