"""What only `S3BlobStore` promises: real presigned URLs, keys under the prefix, no needless uploads."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mnwd.blobs import BlobHashMismatch, BlobTooLarge, InvalidBlobKey, S3BlobStore, create_blob_store
from tests.blobs.streams import Boom, ChunkedStream, stream_of

MiB = 1024 * 1024


@pytest.fixture
async def s3_store(s3_client: Any, s3_bucket: str, tmp_path: Path) -> AsyncIterator[S3BlobStore]:
    store = S3BlobStore(s3_bucket, prefix="b/", client=s3_client, staging_dir=tmp_path / "staging")
    try:
        yield store
    finally:
        await store.close()


@contextlib.contextmanager
def record_requests(client: Any) -> Iterator[list[str]]:
    """The names of the S3 operations ``client`` sends while the block runs."""
    sent: list[str] = []

    def on_before_call(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.s3", on_before_call)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.s3", on_before_call)


def bucket_keys(client: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


async def test_presigned_url_serves_the_bytes_to_a_plain_get(s3_store: S3BlobStore) -> None:
    source = ChunkedStream(3 * MiB)
    info = await s3_store.put(source)

    url = await s3_store.presigned_url(info.sha256, expires_in=600)

    assert url is not None
    assert "X-Amz-Expires=600" in url
    assert await asyncio.to_thread(http_get, url) == source.content()


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 24 * 3600 + 1])
async def test_presigned_url_lifetime_is_bounded(s3_store: S3BlobStore, expires_in: int) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        await s3_store.presigned_url(hashlib.sha256(b"").hexdigest(), expires_in=expires_in)


async def test_objects_live_under_the_prefix(s3_store: S3BlobStore, s3_client: Any, s3_bucket: str) -> None:
    info = await s3_store.put(stream_of(b"prefixed"))

    assert bucket_keys(s3_client, s3_bucket) == [f"b/{info.sha256}"]
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"b/{info.sha256}")
    assert head["ContentType"] == "application/octet-stream"


async def test_refused_puts_write_no_object_at_all(s3_store: S3BlobStore, s3_client: Any, s3_bucket: str) -> None:
    with record_requests(s3_client) as sent:
        with pytest.raises(BlobHashMismatch):
            await s3_store.put(ChunkedStream(9 * MiB), expected_sha256=hashlib.sha256(b"").hexdigest())
        with pytest.raises(BlobTooLarge):
            await s3_store.put(ChunkedStream(9 * MiB), max_size=MiB)
        with pytest.raises(Boom):
            await s3_store.put(ChunkedStream(9 * MiB, fail_at=100))

    assert sent == []
    assert bucket_keys(s3_client, s3_bucket) == []


async def test_stored_content_is_not_uploaded_again(s3_store: S3BlobStore, s3_client: Any) -> None:
    first = await s3_store.put(ChunkedStream(9 * MiB))

    with record_requests(s3_client) as sent:
        again = await s3_store.put(ChunkedStream(9 * MiB))

    assert again == first
    assert sent == ["HeadObject"]


async def test_large_put_is_a_multipart_upload(s3_store: S3BlobStore, s3_client: Any) -> None:
    with record_requests(s3_client) as sent:
        await s3_store.put(ChunkedStream(20 * MiB))

    assert "CreateMultipartUpload" in sent
    assert sent[-1] == "CompleteMultipartUpload"


async def test_invalid_key_sends_no_request(s3_store: S3BlobStore, s3_client: Any) -> None:
    with record_requests(s3_client) as sent:
        for call in (s3_store.open, s3_store.stat, s3_store.exists, s3_store.delete, s3_store.presigned_url):
            with pytest.raises(InvalidBlobKey):
                await call("../x")

    assert sent == []


async def test_ranged_read_asks_s3_for_the_range_only(s3_store: S3BlobStore, s3_client: Any) -> None:
    info = await s3_store.put(stream_of(b"0123456789"))
    ranges: list[str | None] = []

    def on_before_call(params: Any, model: Any, **_: Any) -> None:
        if model.name == "GetObject":
            ranges.append(params["headers"].get("Range"))

    s3_client.meta.events.register("before-call.s3.GetObject", on_before_call)
    try:
        assert await (await s3_store.open(info.sha256, start=3, end=6)).read() == b"345"
        assert await (await s3_store.open(info.sha256)).read() == b"0123456789"
        assert await (await s3_store.open(info.sha256, start=10)).read() == b""
    finally:
        s3_client.meta.events.unregister("before-call.s3.GetObject", on_before_call)

    assert ranges == ["bytes=3-5", None]


async def test_closing_the_store_leaves_a_given_client_open(s3_client: Any, s3_bucket: str, tmp_path: Path) -> None:
    store = S3BlobStore(s3_bucket, client=s3_client, staging_dir=tmp_path / "staging")
    await store.close()

    s3_client.head_bucket(Bucket=s3_bucket)
    with pytest.raises(RuntimeError):
        await store.stat(hashlib.sha256(b"").hexdigest())


async def test_factory_with_bucket_builds_its_own_client(
    moto_endpoint: str, s3_client: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)

    store = create_blob_store(
        data_dir=tmp_path / "var",
        s3_bucket=s3_bucket,
        s3_prefix="p/",
        s3_endpoint_url=moto_endpoint,
        s3_region="us-east-1",
    )
    try:
        assert isinstance(store, S3BlobStore)
        assert store.staging_dir == tmp_path / "var" / "blobs" / "tmp"
        info = await store.put(stream_of(b"via the factory"))
        assert await (await store.open(info.sha256)).read() == b"via the factory"
        assert bucket_keys(s3_client, s3_bucket) == [f"p/{info.sha256}"]
        url = await store.presigned_url(info.sha256)
        assert url is not None
        assert await asyncio.to_thread(http_get, url) == b"via the factory"
    finally:
        await store.close()
