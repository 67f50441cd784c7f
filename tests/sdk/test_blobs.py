"""Blobs through the SDK: upload by content hash (HEAD first, skipped when present), streamed with progress;
download checked against the hash; unfinished uploads resumed after a restart."""

from __future__ import annotations

import hashlib
import os

import pytest
from mnw_synckit import BlobCorrupt, OfflineError
from mnw_synckit.testing import FlakyProxy

from tests.sdk.conftest import MakeDevice, SdkApp

pytestmark = pytest.mark.e2e


async def test_put_uploads_once_and_get_checks_the_hash(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("laptop")).close()
    content = os.urandom(700_000)
    source = sdk_app.tmp / "photo.jpg"
    source.write_bytes(content)
    async with FlakyProxy(sdk_app.base_url) as proxy:
        laptop = await make_device("laptop", base_url=proxy.url)
        progress: list[tuple[int, int]] = []
        sha = await laptop.blobs.put(source, progress=lambda done, total: progress.append((done, total)))
        assert sha == hashlib.sha256(content).hexdigest()
        assert progress[-1] == (len(content), len(content))
        assert len(progress) > 1, "the upload is streamed in chunks"
        assert proxy.count("HEAD", f"/sync/v1/blobs/{sha}") == 1
        assert proxy.count("PUT", f"/sync/v1/blobs/{sha}") == 1

        assert await laptop.blobs.put(source) == sha
        assert proxy.count("PUT", f"/sync/v1/blobs/{sha}") == 1, "a blob the server has is not sent again"

    phone = await make_device("phone")
    target = sdk_app.tmp / "downloaded.jpg"
    assert await phone.blobs.get(sha, target) == target
    assert target.read_bytes() == content
    row = await sdk_app.pool.fetchrow("SELECT size_bytes, content_type FROM sync_blobs WHERE hash = $1", sha)
    assert (row["size_bytes"], row["content_type"]) == (len(content), "image/jpeg")


async def test_a_download_that_does_not_match_its_hash_is_refused(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop")
    source = sdk_app.tmp / "a.bin"
    source.write_bytes(b"the real bytes")
    sha = await laptop.blobs.put(source)
    found = [p for p in (sdk_app.tmp / "daemon").rglob(f"*{sha}*") if p.is_file()]
    assert len(found) == 1, found
    found[0].write_bytes(b"the evil bytes")  # same length: the server streams it as it is
    target = sdk_app.tmp / "b.bin"
    target.write_bytes(b"kept")
    with pytest.raises(BlobCorrupt):
        await laptop.blobs.get(sha, target)
    assert target.read_bytes() == b"kept", "a bad download never replaces the file"
    assert not (sdk_app.tmp / "b.bin.part").exists()


async def test_an_unfinished_upload_resumes_after_restart(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("laptop")).close()
    source = sdk_app.tmp / "doc.pdf"
    source.write_bytes(b"%PDF-" + os.urandom(10_000))
    async with FlakyProxy(sdk_app.base_url) as proxy:
        laptop = await make_device("laptop", base_url=proxy.url)
        proxy.go_offline()
        with pytest.raises(OfflineError):
            await laptop.blobs.put(source)
        await laptop.close()

    laptop = await make_device("laptop")
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert await laptop.blobs.exists(sha) is False
    assert await laptop.blobs.resume() == [sha]
    assert await laptop.blobs.exists(sha) is True
    assert await laptop.blobs.resume() == [], "finished uploads leave the queue"
