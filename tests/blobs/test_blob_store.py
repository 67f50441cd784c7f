"""Conformance suite: what every `BlobStore` must do, run against each backend in `blob_store`."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mnwd.blobs import (
    BlobHashMismatch,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    InvalidBlobRange,
)
from mnwd.blobs.staging import BATCH_SIZE
from tests.blobs.streams import Boom, ChunkedStream, stream_of
from tests.support.waiting import until_set

MiB = 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged_bytes(staging_dir: Path) -> int:
    return sum(p.stat().st_size for p in staging_dir.iterdir()) if staging_dir.exists() else 0


def assert_nothing_staged(staging_dir: Path) -> None:
    leftovers = list(staging_dir.iterdir()) if staging_dir.exists() else []
    assert leftovers == []


async def test_put_then_open_returns_the_same_bytes(blob_store: BlobStore) -> None:
    data = b"hello, blobs"

    info = await blob_store.put(stream_of(b"hello", b", ", b"blobs"))

    assert info == BlobInfo(sha256_of(data), len(data))
    assert await blob_store.stat(info.sha256) == info
    assert await blob_store.exists(info.sha256)
    async with await blob_store.open(info.sha256) as stream:
        assert (stream.sha256, stream.size, stream.start, stream.end, stream.length) == (
            info.sha256,
            len(data),
            0,
            len(data),
            len(data),
        )
        assert await stream.read() == data


async def test_empty_blob(blob_store: BlobStore, staging_dir: Path) -> None:
    info = await blob_store.put(stream_of())

    assert info == BlobInfo(EMPTY_SHA256, 0)
    assert await blob_store.stat(EMPTY_SHA256) == info
    stream = await blob_store.open(EMPTY_SHA256)
    assert stream.size == 0
    assert await stream.read() == b""
    assert_nothing_staged(staging_dir)


async def test_multi_mib_stream_is_consumed_chunk_by_chunk(blob_store: BlobStore, staging_dir: Path) -> None:
    staged_while_streaming: list[int] = []
    source = ChunkedStream(6 * MiB, on_chunk=lambda i: staged_while_streaming.append(staged_bytes(staging_dir)))
    data = source.content()

    info = await blob_store.put(source)

    assert info == BlobInfo(sha256_of(data), len(data))
    assert source.pulled == source.chunk_count == 96
    # Bytes reached the disk while the stream was still producing: nothing waited for the whole stream.
    assert any(0 < staged < len(data) for staged in staged_while_streaming)
    assert max(staged_while_streaming) <= len(data) - source.chunk_size
    assert_nothing_staged(staging_dir)

    chunks = [chunk async for chunk in await blob_store.open(info.sha256)]
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= BATCH_SIZE
    assert b"".join(chunks) == data


async def test_put_of_20_mib(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(20 * MiB, chunk_size=MiB + 17)
    data = source.content()

    info = await blob_store.put(source, expected_sha256=sha256_of(data), max_size=20 * MiB)

    assert info == BlobInfo(sha256_of(data), 20 * MiB)
    assert await blob_store.stat(info.sha256) == info
    digest = hashlib.sha256()
    async for chunk in await blob_store.open(info.sha256):
        digest.update(chunk)
    assert digest.hexdigest() == info.sha256
    assert_nothing_staged(staging_dir)


async def test_second_put_of_the_same_content_succeeds_and_changes_nothing(blob_store: BlobStore) -> None:
    first = await blob_store.put(stream_of(b"same bytes"))
    second = await blob_store.put(stream_of(b"same ", b"bytes"), expected_sha256=first.sha256)

    assert second == first
    assert await (await blob_store.open(first.sha256)).read() == b"same bytes"


async def test_concurrent_puts_of_the_same_content(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(3 * MiB)

    infos = await asyncio.gather(*(blob_store.put(ChunkedStream(3 * MiB)) for _ in range(5)))

    assert {info.sha256 for info in infos} == {sha256_of(source.content())}
    assert await (await blob_store.open(infos[0].sha256)).read() == source.content()
    assert_nothing_staged(staging_dir)


async def test_expected_hash_that_matches_is_accepted(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"abc"), expected_sha256=sha256_of(b"abc"))
    assert info == BlobInfo(sha256_of(b"abc"), 3)


async def test_hash_mismatch_keeps_nothing(blob_store: BlobStore, staging_dir: Path) -> None:
    claimed = sha256_of(b"what the client said")

    with pytest.raises(BlobHashMismatch) as raised:
        await blob_store.put(stream_of(b"what the client ", b"sent"), expected_sha256=claimed)

    assert raised.value.expected == claimed
    assert raised.value.actual == sha256_of(b"what the client sent")
    assert not await blob_store.exists(claimed)
    assert not await blob_store.exists(raised.value.actual)
    assert_nothing_staged(staging_dir)


async def test_hash_mismatch_of_a_large_stream_keeps_nothing(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(3 * MiB)

    with pytest.raises(BlobHashMismatch):
        await blob_store.put(source, expected_sha256=EMPTY_SHA256)

    assert not await blob_store.exists(sha256_of(source.content()))
    assert not await blob_store.exists(EMPTY_SHA256)
    assert_nothing_staged(staging_dir)


async def test_exactly_max_size_is_accepted(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"12345", b"67890"), max_size=10)
    assert info.size == 10


async def test_more_than_max_size_keeps_nothing_and_stops_reading(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(4 * MiB)

    with pytest.raises(BlobTooLarge) as raised:
        await blob_store.put(source, max_size=2 * MiB)

    assert raised.value.limit == 2 * MiB
    assert source.pulled == 2 * MiB // source.chunk_size + 1
    assert not await blob_store.exists(sha256_of(source.content()))
    assert_nothing_staged(staging_dir)


async def test_max_size_zero_refuses_one_byte(blob_store: BlobStore) -> None:
    assert await blob_store.put(stream_of(), max_size=0) == BlobInfo(EMPTY_SHA256, 0)
    with pytest.raises(BlobTooLarge):
        await blob_store.put(stream_of(b"x"), max_size=0)
    assert not await blob_store.exists(sha256_of(b"x"))


async def test_stream_that_fails_midway_keeps_nothing(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(4 * MiB, fail_at=40)

    with pytest.raises(Boom):
        await blob_store.put(source)

    assert source.pulled == 40
    assert not await blob_store.exists(sha256_of(source.content()))
    assert not await blob_store.exists(sha256_of(source.content()[: 40 * source.chunk_size]))
    assert_nothing_staged(staging_dir)


async def test_cancelled_put_keeps_nothing(blob_store: BlobStore, staging_dir: Path) -> None:
    source = ChunkedStream(4 * MiB, block_at=40)
    task = asyncio.create_task(blob_store.put(source))
    await until_set(source.blocked, task)  # a put failing before chunk 40 would leave a bare wait() hanging
    assert staged_bytes(staging_dir) > 0

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not await blob_store.exists(sha256_of(source.content()[: 40 * source.chunk_size]))
    assert_nothing_staged(staging_dir)


DIGITS = b"0123456789"


@pytest.mark.parametrize(
    ("start", "end", "served", "expected"),
    [
        (0, None, (0, 10), b"0123456789"),
        (2, 5, (2, 5), b"234"),
        (5, None, (5, 10), b"56789"),
        (9, 10, (9, 10), b"9"),
        (0, 1, (0, 1), b"0"),
        (4, 4, (4, 4), b""),
        (8, 100, (8, 10), b"89"),
        (10, None, (10, 10), b""),
        (20, 30, (10, 10), b""),
    ],
)
async def test_byte_ranges_are_half_open_and_clamped(
    blob_store: BlobStore, start: int, end: int | None, served: tuple[int, int], expected: bytes
) -> None:
    info = await blob_store.put(stream_of(DIGITS))

    async with await blob_store.open(info.sha256, start=start, end=end) as stream:
        assert (stream.start, stream.end) == served
        assert stream.length == len(expected)
        assert stream.size == 10
        assert await stream.read() == expected


async def test_range_across_chunks_of_a_large_blob(blob_store: BlobStore) -> None:
    source = ChunkedStream(3 * MiB, chunk_size=1000)
    data = source.content()
    info = await blob_store.put(source)

    stream = await blob_store.open(info.sha256, start=100_001, end=2 * MiB + 5)

    assert await stream.read() == data[100_001 : 2 * MiB + 5]


@pytest.mark.parametrize(("start", "end"), [(-1, None), (-1, 5), (5, 4)])
async def test_invalid_range_is_refused(blob_store: BlobStore, start: int, end: int | None) -> None:
    info = await blob_store.put(stream_of(DIGITS))

    with pytest.raises(InvalidBlobRange) as raised:
        await blob_store.open(info.sha256, start=start, end=end)
    assert isinstance(raised.value, ValueError)


async def test_stream_closed_before_the_end(blob_store: BlobStore) -> None:
    source = ChunkedStream(2 * MiB)
    info = await blob_store.put(source)

    async with await blob_store.open(info.sha256) as stream:
        first = await anext(stream)
    assert source.content().startswith(first)
    # A stream never read from closes too.
    await (await blob_store.open(info.sha256)).aclose()
    assert await blob_store.exists(info.sha256)


async def test_missing_blob(blob_store: BlobStore) -> None:
    missing = sha256_of(b"never stored")

    with pytest.raises(BlobNotFound) as raised:
        await blob_store.open(missing)

    assert raised.value.sha256 == missing
    assert await blob_store.stat(missing) is None
    assert not await blob_store.exists(missing)
    assert not await blob_store.delete(missing)


async def test_delete(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"short-lived"))
    kept = await blob_store.put(stream_of(b"kept"))

    assert await blob_store.delete(info.sha256)

    assert not await blob_store.exists(info.sha256)
    assert await blob_store.stat(info.sha256) is None
    with pytest.raises(BlobNotFound):
        await blob_store.open(info.sha256)
    assert not await blob_store.delete(info.sha256)
    assert await (await blob_store.open(kept.sha256)).read() == b"kept"


async def test_blob_deleted_after_open_is_not_found_on_read(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"gone soon"))
    stream = await blob_store.open(info.sha256)

    await blob_store.delete(info.sha256)

    with pytest.raises(BlobNotFound):
        await stream.read()


async def test_negative_max_size_is_a_programming_error(blob_store: BlobStore) -> None:
    source = ChunkedStream(10)
    with pytest.raises(ValueError, match="max_size"):
        await blob_store.put(source, max_size=-1)
    assert source.pulled == 0


async def test_put_again_after_delete(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"back again"))
    await blob_store.delete(info.sha256)

    assert await blob_store.put(stream_of(b"back again")) == info
    assert await (await blob_store.open(info.sha256)).read() == b"back again"


VALID = sha256_of(b"x")
BAD_KEYS = [
    pytest.param("../x", id="parent-dir"),
    pytest.param("../../../../etc/passwd", id="etc-passwd"),
    pytest.param("../" + VALID[3:], id="parent-dir-64-chars"),
    pytest.param(VALID[:2] + "/" + VALID[3:], id="slash-64-chars"),
    pytest.param(VALID.upper(), id="uppercase"),
    pytest.param(VALID[:63], id="63-chars"),
    pytest.param(VALID + "0", id="65-chars"),
    pytest.param("", id="empty"),
    pytest.param(VALID + "\n", id="trailing-newline"),
    pytest.param(VALID[:63] + "g", id="not-hex"),
    pytest.param("/" + VALID[1:], id="absolute"),
]


def calls_with_key(store: BlobStore, key: Any) -> dict[str, Any]:
    return {
        "put": lambda: store.put(stream_of(b"x"), expected_sha256=key),
        "open": lambda: store.open(key),
        "open-range": lambda: store.open(key, start=1, end=2),
        "stat": lambda: store.stat(key),
        "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(key),
        "presigned_url": lambda: store.presigned_url(key),
    }


@pytest.mark.parametrize("method", ["put", "open", "open-range", "stat", "exists", "delete", "presigned_url"])
@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_key_is_refused_by_every_method(blob_store: BlobStore, method: str, key: str) -> None:
    """An attacker names a blob ``../../etc/passwd``: every method refuses before any I/O."""
    with pytest.raises(InvalidBlobKey) as raised:
        await calls_with_key(blob_store, key)[method]()
    assert isinstance(raised.value, ValueError)
    assert not await blob_store.exists(VALID)


async def test_invalid_key_of_another_type_is_refused(blob_store: BlobStore) -> None:
    with pytest.raises(InvalidBlobKey):
        await blob_store.stat(b"\x00" * 32)  # type: ignore[arg-type]


async def test_invalid_expected_hash_reads_nothing(blob_store: BlobStore) -> None:
    source = ChunkedStream(MiB)
    with pytest.raises(InvalidBlobKey):
        await blob_store.put(source, expected_sha256="../x")
    assert source.pulled == 0


async def test_presigned_url_is_none_or_serves_the_bytes(blob_store: BlobStore) -> None:
    info = await blob_store.put(stream_of(b"fetched directly"))

    url = await blob_store.presigned_url(info.sha256, expires_in=60)

    if url is not None:
        assert await asyncio.to_thread(http_get, url) == b"fetched directly"


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


async def test_close_twice(blob_store: BlobStore) -> None:
    await blob_store.close()
    await blob_store.close()


async def test_list_page_walks_every_blob_in_key_order_and_skips_what_is_not_a_blob(
    blob_store: BlobStore, staging_dir: Path
) -> None:
    stored = sorted([(await blob_store.put(stream_of(bytes([i]) * 10))).sha256 for i in range(7)])
    staging_dir.mkdir(parents=True, exist_ok=True)
    (staging_dir / "put-left-by-a-crash.part").write_bytes(b"half")
    walked: list[str] = []
    after = ""
    while True:
        page = await blob_store.list_page(after, 3)
        walked += [blob.sha256 for blob in page]
        assert all(blob.written_at > 0 for blob in page)
        if len(page) < 3:
            break
        after = page[-1].sha256
    assert walked == stored
    assert await blob_store.list_page(stored[-1], 3) == []
    assert [b.sha256 for b in await blob_store.list_page(stored[2], 2)] == stored[3:5]


async def test_list_page_refuses_a_bad_cursor_or_limit(blob_store: BlobStore) -> None:
    with pytest.raises(InvalidBlobKey):
        await blob_store.list_page("../etc", 10)
    with pytest.raises(ValueError, match="limit"):
        await blob_store.list_page("", 0)
