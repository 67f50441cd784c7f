"""What only `LocalBlobStore` promises: its layout on disk, atomic placement, and refusing paths."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from mnwd.blobs import InvalidBlobKey, LocalBlobStore, create_blob_store
from mnwd.blobs.errors import BlobStorageFull
from mnwd.blobs.staging import StagedFile
from mnwd.errors import InsufficientStorage
from tests.blobs.streams import ChunkedStream, stream_of

MiB = 1024 * 1024


async def test_blob_lives_at_root_ab_cd_hash(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")

    info = await store.put(stream_of(b"on disk"))

    path = tmp_path / "blobs" / info.sha256[:2] / info.sha256[2:4] / info.sha256
    assert path.read_bytes() == b"on disk"
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == sorted([info.sha256[:2], "tmp"])
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


async def test_no_partial_blob_under_its_hash_while_streaming(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    source = ChunkedStream(3 * MiB)
    sha256 = hashlib.sha256(source.content()).hexdigest()
    final = root / sha256[:2] / sha256[2:4] / sha256
    seen_final: list[bool] = []
    source.on_chunk = lambda _: seen_final.append(final.exists())

    await LocalBlobStore(root).put(source)

    assert seen_final == [False] * source.chunk_count
    assert final.read_bytes() == source.content()


async def test_path_traversal_is_refused(tmp_path: Path) -> None:
    """An attacker asks for blob ``../victim`` or ``../../etc/passwd`` to read or delete files outside the store.

    Keys are checked against ``^[0-9a-f]{64}$`` before a path is built, so nothing outside the root
    is read or removed, and the store does not even create its root.
    """
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret")
    store = LocalBlobStore(tmp_path / "blobs")

    for key in ["../victim", "../../victim", str(victim), "../" * 20 + "etc/passwd", "./../victim"]:
        with pytest.raises(InvalidBlobKey):
            await store.open(key)
        with pytest.raises(InvalidBlobKey):
            await store.delete(key)
        with pytest.raises(InvalidBlobKey):
            await store.stat(key)

    assert victim.read_bytes() == b"secret"
    assert not (tmp_path / "blobs").exists()


async def test_no_presigned_url(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    info = await store.put(stream_of(b"served by mnwd itself"))

    assert await store.presigned_url(info.sha256) is None


async def test_put_of_20_mib_holds_little_memory(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    source = ChunkedStream(20 * MiB)

    tracemalloc.start()
    try:
        await store.put(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * MiB


def test_factory_without_bucket_stores_under_data_dir(tmp_path: Path) -> None:
    store = create_blob_store(data_dir=tmp_path, s3_bucket=None)

    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


async def test_a_put_cancelled_while_its_staging_file_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is made in a thread; a put cancelled meanwhile never holds it, and must not leave it behind."""
    store = LocalBlobStore(tmp_path / "blobs")
    await store.put(stream_of(b"makes the staging directory"))
    make = StagedFile.__init__

    def slowly(self: StagedFile, directory: Path) -> None:
        time.sleep(0.2)
        make(self, directory)

    monkeypatch.setattr(StagedFile, "__init__", slowly)
    put = asyncio.ensure_future(store.put(stream_of(b"never stored")))
    await asyncio.sleep(0.1)  # the staging file is being made
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    await asyncio.sleep(0.3)  # the thread has made it by now
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("step", ["write", "move_to"])
async def test_a_full_disk_raises_blob_storage_full_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, code: int
) -> None:
    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(StagedFile, step, no_space)
    store = LocalBlobStore(tmp_path / "blobs")

    with pytest.raises(BlobStorageFull) as raised:
        await store.put(stream_of(b"no room"))

    assert raised.value.errno == code
    assert isinstance(raised.value, InsufficientStorage)
    assert raised.value.status == 507
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    assert not await store.exists(hashlib.sha256(b"no room").hexdigest())


async def test_other_os_errors_are_not_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(StagedFile, "write", broken)

    with pytest.raises(OSError, match="Input/output error") as raised:
        await LocalBlobStore(tmp_path / "blobs").put(stream_of(b"broken"))

    assert not isinstance(raised.value, BlobStorageFull)
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
