"""`BlobStore.open_file`: the blob's own file for ``sendfile``, where the store keeps one (local), else None."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mnwd.blobs import BlobStore, InvalidBlobKey, InvalidBlobRange, LocalBlobStore, S3BlobStore
from tests.blobs.streams import ChunkedStream, stream_of

MiB = 1024 * 1024


async def test_a_local_blob_is_its_file_and_s3_has_none(blob_store: BlobStore) -> None:
    source = ChunkedStream(3 * MiB + 5)
    info = await blob_store.put(source)

    file = await blob_store.open_file(info.sha256, start=10, end=MiB)

    if isinstance(blob_store, S3BlobStore):
        assert file is None
        return
    assert file is not None
    with file:
        assert file.read() == source.content()
    assert isinstance(blob_store, LocalBlobStore)


async def test_a_blob_not_stored_has_no_file(blob_store: BlobStore) -> None:
    assert await blob_store.open_file(hashlib.sha256(b"never stored").hexdigest()) is None


@pytest.mark.parametrize("key", ["", "../" + "a" * 61, "A" * 64, "a" * 63, "a" * 64 + "/"])
async def test_a_malformed_key_is_refused_before_any_io(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        await blob_store.open_file(key)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
async def test_a_bad_range_is_refused(blob_store: BlobStore, start: int, end: int | None) -> None:
    info = await blob_store.put(stream_of(b"0123456789"))
    with pytest.raises(InvalidBlobRange):
        await blob_store.open_file(info.sha256, start=start, end=end)


async def test_an_open_file_keeps_its_bytes_when_the_blob_is_deleted(tmp_path: Path) -> None:
    """What the HTTP layer relies on: the file is opened before the headers go out, so a collection that
    deletes the blob meanwhile cannot cut the answer short."""

    store = LocalBlobStore(tmp_path / "blobs")
    data = b"x" * (2 * MiB)
    info = await store.put(stream_of(data))
    file = await store.open_file(info.sha256)
    assert file is not None
    with file:
        assert await store.delete(info.sha256)
        assert not await store.exists(info.sha256)
        assert file.read() == data
