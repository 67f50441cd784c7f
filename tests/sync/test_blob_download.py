"""``GET /sync/v1/blobs/{sha256}`` as sent: the local store's file with ``sendfile``, a store without files
(S3) chunk by chunk, the same bytes and headers either way; and a client that leaves mid-answer."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from typing import Any, BinaryIO

import pytest
from aiohttp.test_utils import TestClient

from mnwd.blobs import LocalBlobStore
from mnwd.services import Services
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp
from tests.sync.tokens import sync_token

BLOBS = "/sync/v1/blobs/"
MIB = 1024 * 1024
SIZE = 6 * MIB + 7  # several socket buffers, not a multiple of any chunk


class FilelessStore(LocalBlobStore):
    """The local store answering `open_file` as S3 does: the route must stream what `open` reads."""

    async def open_file(self, sha256: str, *, start: int = 0, end: int | None = None) -> BinaryIO | None:
        file = await super().open_file(sha256, start=start, end=end)  # the same checks, then no file
        if file is not None:
            file.close()
        return None


@pytest.fixture
async def alice_token(client: TestClient, alice: Browser, notes_app: RegisteredApp) -> str:  # type: ignore[type-arg]
    return await sync_token(client, alice, notes_app)


@pytest.fixture(params=["sendfile", "streamed"])
def store_kind(request: pytest.FixtureRequest, services: Services) -> str:
    if request.param == "streamed":
        assert isinstance(services.blobs, LocalBlobStore)
        services.blobs = FilelessStore(services.blobs.root)
    return str(request.param)


@pytest.fixture
async def stored(client: TestClient, alice_token: str, store_kind: str) -> tuple[str, bytes]:  # type: ignore[type-arg]
    data = os.urandom(SIZE)
    key = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {alice_token}", "Content-Type": "text/plain"}
    response = await client.put(BLOBS + key, data=io.BytesIO(data), headers=headers)
    assert response.status == 201, await response.text()
    return key, data


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def test_a_large_blob_comes_back_whole_with_its_headers(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: tuple[str, bytes],
) -> None:
    key, data = stored
    response = await client.get(BLOBS + key, headers=auth(alice_token))
    assert response.status == 200
    assert await response.read() == data
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["ETag"] == f'"{key}"'
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=1048575-4194304", MIB - 1, 4 * MIB + 1),
        (f"bytes={SIZE - 3}-", SIZE - 3, SIZE),
        ("bytes=-5", SIZE - 5, SIZE),
        (f"bytes=5-{SIZE * 2}", 5, SIZE),
    ],
)
async def test_a_range_of_a_large_blob_is_exactly_those_bytes(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: tuple[str, bytes],
    header: str,
    start: int,
    end: int,
) -> None:
    key, data = stored
    response = await client.get(BLOBS + key, headers=auth(alice_token, Range=header))
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start)
    assert await response.read() == data[start:end]


async def test_keep_alive_serves_the_next_request_after_a_download(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: tuple[str, bytes],
) -> None:
    """The file's bytes end exactly where Content-Length says: the next answer on the same connection parses."""
    key, data = stored
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        request = f"GET {BLOBS}{key} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {alice_token}\r\n"
        writer.write((request + "Range: bytes=3-9\r\n\r\n" + request + "\r\n").encode())
        for body in (data[3:10], data):
            async with asyncio.timeout(30):
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
                )
                assert length == len(body)
                assert await reader.readexactly(length) == body
    finally:
        writer.close()


async def test_a_client_that_leaves_mid_download_leaves_the_server_well(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    store_kind: str,
    caplog: Any,
) -> None:
    """More than loopback's socket buffers hold, so the server is still sending when the reset comes."""
    data = os.urandom(48 * MIB)
    key = hashlib.sha256(data).hexdigest()
    response = await client.put(BLOBS + key, data=io.BytesIO(data), headers=auth(alice_token))
    assert response.status == 201, await response.text()
    for _ in range(3):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        request = f"GET {BLOBS}{key} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {alice_token}\r\n\r\n"
        writer.write(request.encode())
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(1000)
        writer.transport.abort()  # a reset, with most of the body unsent
    await asyncio.sleep(0.2)
    response = await client.get(BLOBS + key, headers=auth(alice_token, Range="bytes=-10"))
    assert response.status == 206
    assert await response.read() == data[-10:]
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
