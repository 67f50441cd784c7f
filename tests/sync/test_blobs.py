"""``PUT | HEAD | GET | DELETE /sync/v1/blobs/{sha256}``: content-addressed blobs per (app, user), with quotas.

Real PostgreSQL, real tokens from the OAuth flow, the in-process server with the local blob store (the store
itself, S3 included, is covered by tests/blobs). Where a test must control exactly which bytes reach the
server and when (no Content-Length, headers without a body, ``Expect: 100-continue``), it speaks HTTP/1.1 on a
raw socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import io
import os
import subprocess
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from mnwd.app import create_app
from mnwd.blobs import BlobInfo, BlobStore, LocalBlobStore
from mnwd.blobs.staging import StagedFile
from mnwd.services import Services
from mnwd.sync.settings import SyncSettings
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, register_app
from tests.support.queries import QueryCount
from tests.sync.tokens import sync_token

BLOBS = "/sync/v1/blobs/"
PROBLEM = "https://mnwd.dev/problems/"
MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def put(
    client: TestClient,  # type: ignore[type-arg]
    token: str,
    data: bytes,
    *,
    key: str | None = None,
    content_type: str = "application/octet-stream",
) -> ClientResponse:
    headers = auth(token, **{"Content-Type": content_type})
    # BytesIO: aiohttp warns about large bytes bodies; it still sends a Content-Length.
    return await client.put(BLOBS + (key or sha(data)), data=io.BytesIO(data), headers=headers)


async def storage_used(pool: asyncpg.Pool, username: str) -> int:
    used: int = await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = $1", username)
    return used


async def rows(pool: asyncpg.Pool, sha256: str | None = None) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM sync_blobs WHERE $1::text IS NULL OR hash = $1", sha256)
    return count


async def signed_in(aiohttp_client: Any, client: TestClient, make_user: MakeUser, username: str) -> Browser:  # type: ignore[type-arg]
    """A browser of its own (its own cookies) on the same server, signed in as a new user ``username``."""
    await make_user(username)
    browser = Browser(await aiohttp_client(client.server))
    await sign_in(browser, username)
    return browser


@pytest.fixture
async def alice_token(client: TestClient, alice: Browser, notes_app: RegisteredApp) -> str:  # type: ignore[type-arg]
    return await sync_token(client, alice, notes_app)


@pytest.fixture
async def bob_token(client: TestClient, aiohttp_client: Any, make_user: MakeUser, notes_app: RegisteredApp) -> str:  # type: ignore[type-arg]
    return await sync_token(client, await signed_in(aiohttp_client, client, make_user, "bob"), notes_app)


@pytest.fixture
def limits(services: Services) -> Any:
    """Change the blob settings of the running app: ``limits(max_blob_bytes=...)``."""

    def change(**values: int) -> None:
        changed = dataclasses.replace(services.config.section(SyncSettings), **values)
        services.config = services.config.with_section(changed)

    return change


async def set_quota(pool: asyncpg.Pool, username: str, quota: int) -> None:
    await pool.execute("UPDATE users SET max_file_override_bytes = $2 WHERE username = $1", username, quota)


# --- speaking HTTP/1.1 by hand ---


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class RawConnection:
    """One connection to the test server, for requests the aiohttp client will not send as written."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, client: TestClient) -> RawConnection:  # type: ignore[type-arg]
        reader, writer = await asyncio.open_connection(client.host, client.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, within: float = 5.0, *, to_head: bool = False) -> RawResponse:
        """The next response (a ``100 Continue`` counts as one); fails if none comes ``within`` seconds."""
        async with asyncio.timeout(within):
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length and not to_head else b""
        return RawResponse(status, headers, body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def raw(client: TestClient) -> AsyncIterator[Any]:  # type: ignore[type-arg]
    opened: list[RawConnection] = []

    async def connect() -> RawConnection:
        connection = await RawConnection.open(client)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        with contextlib.suppress(ConnectionError):
            await connection.close()


def problem_of(response: RawResponse) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response
    doc: dict[str, Any] = orjson.loads(response.body)
    return doc


def head(method: str, key: str, token: str | None, *headers: str) -> bytes:
    lines = [f"{method} {BLOBS}{key} HTTP/1.1", "Host: localhost"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


# --- upload and download ---


@pytest.mark.parametrize("size", [0, 1000, 5 * MIB + 3], ids=["empty", "small", "over-client_max_size"])
async def test_put_then_get_returns_the_same_bytes(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
    size: int,
) -> None:
    data = os.urandom(size)
    key = sha(data)
    response = await put(client, alice_token, data, content_type="image/png")
    assert response.status == 201, await response.text()
    assert await response.json() == {"sha256": key, "size": size}
    assert response.headers["ETag"] == f'"{key}"'

    got = await client.get(BLOBS + key, headers=auth(alice_token))
    assert got.status == 200
    assert await got.read() == data
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["ETag"] == f'"{key}"'
    assert got.headers["Cache-Control"] == "private, immutable, max-age=31536000"
    assert got.headers["Accept-Ranges"] == "bytes"
    assert got.headers["X-Content-Type-Options"] == "nosniff"

    assert await storage_used(pool, "alice") == size
    row = await pool.fetchrow("SELECT hash, s3_key, size_bytes, content_type FROM sync_blobs")
    assert dict(row) == {"hash": key, "s3_key": key, "size_bytes": size, "content_type": "image/png"}
    assert await services.blobs.exists(key)


async def test_head_gives_the_headers_of_get_without_a_body(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    data = b"x" * 1234
    assert (await put(client, alice_token, data, content_type="text/plain; charset=utf-8")).status == 201
    response = await client.head(BLOBS + sha(data), headers=auth(alice_token))
    assert response.status == 200
    assert response.headers["Content-Length"] == "1234"
    assert response.headers["ETag"] == f'"{sha(data)}"'
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert await response.read() == b""


async def test_a_blob_without_content_type_is_served_as_octet_stream(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    raw: Any,
) -> None:
    data = b"no type"
    connection = await raw()
    await connection.send(head("PUT", sha(data), alice_token, f"Content-Length: {len(data)}") + data)
    assert (await connection.response()).status == 201
    got = await client.get(BLOBS + sha(data), headers=auth(alice_token))
    assert got.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "content_type", ["text/html", "text/html; charset=utf-8", "image/svg+xml", "application/javascript", "TEXT/XML"]
)
async def test_a_blob_of_a_risky_type_is_served_as_an_octet_stream_attachment(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    content_type: str,
) -> None:
    """Attack: upload HTML or SVG with a script and send someone the download link: it must not run on our
    origin."""
    data = b"<script>alert(document.cookie)</script>" + content_type.encode()
    assert (await put(client, alice_token, data, content_type=content_type)).status == 201
    for method in (client.get, client.head):
        got = await method(BLOBS + sha(data), headers=auth(alice_token))
        assert got.status == 200
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["Content-Disposition"] == "attachment"
        assert got.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("content_type", ["image/png", "audio/ogg", "video/mp4", "application/pdf", "text/plain"])
async def test_a_blob_of_an_inert_type_keeps_it_and_is_an_attachment(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    content_type: str,
) -> None:
    data = b"inert " + content_type.encode()
    assert (await put(client, alice_token, data, content_type=content_type)).status == 201
    got = await client.get(BLOBS + sha(data), headers=auth(alice_token))
    assert got.headers["Content-Type"] == content_type
    assert got.headers["Content-Disposition"] == "attachment"


async def test_a_malformed_content_type_is_refused(client: TestClient, alice_token: str, pool: asyncpg.Pool) -> None:  # type: ignore[type-arg]
    response = await put(client, alice_token, b"data", content_type="not a media type")
    assert response.status == 400
    assert (await response.json())["type"] == PROBLEM + "bad-request"
    assert await rows(pool) == 0


# --- dedup ---


async def test_a_second_put_of_the_same_bytes_is_200_and_counted_once(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
) -> None:
    data = os.urandom(3000)
    assert (await put(client, alice_token, data)).status == 201
    again = await put(client, alice_token, data, content_type="image/jpeg")
    assert again.status == 200
    assert await again.json() == {"sha256": sha(data), "size": 3000}
    assert await storage_used(pool, "alice") == 3000
    assert await rows(pool) == 1
    # The first upload's Content-Type stays: the bytes are the same blob.
    got = await client.get(BLOBS + sha(data), headers=auth(alice_token))
    assert got.headers["Content-Type"] == "application/octet-stream"


async def test_concurrent_puts_of_the_same_bytes_create_one_blob(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    limits: Any,
) -> None:
    limits(max_uploads=6)
    data = os.urandom(50_000)
    responses = await asyncio.gather(*(put(client, alice_token, data) for _ in range(6)))
    assert sorted(r.status for r in responses) == [200] * 5 + [201]
    assert await storage_used(pool, "alice") == 50_000
    assert await rows(pool) == 1


async def test_a_known_blob_is_answered_without_reading_the_body(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    raw: Any,
) -> None:
    """Headers only, a Content-Length of 50 MiB, no body sent: the answer must not wait for the body."""
    data = os.urandom(100)
    assert (await put(client, alice_token, data)).status == 201
    connection = await raw()
    await connection.send(head("PUT", sha(data), alice_token, f"Content-Length: {50 * MIB}"))
    response = await connection.response(within=3)
    assert response.status == 200
    assert response.headers["etag"] == f'"{sha(data)}"'


async def test_expect_100_continue_is_answered_only_when_the_body_is_wanted(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    raw: Any,
) -> None:
    known, new = os.urandom(100), os.urandom(200)
    assert (await put(client, alice_token, known)).status == 201

    first = await raw()
    await first.send(head("PUT", sha(known), alice_token, "Content-Length: 100", "Expect: 100-continue"))
    assert (await first.response()).status == 200  # no 100 Continue before it: the client keeps its bytes

    second = await raw()
    await second.send(head("PUT", sha(new), alice_token, "Content-Length: 200", "Expect: 100-continue"))
    assert (await second.response()).status == 100
    await second.send(new)
    assert (await second.response()).status == 201


# --- refusals that keep nothing ---


async def test_a_wrong_hash_is_400_and_nothing_is_kept(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    data = os.urandom(2 * MIB)
    claimed = sha(b"something else")
    response = await put(client, alice_token, data, key=claimed)
    assert response.status == 400
    problem = await response.json()
    assert problem["type"] == PROBLEM + "blob-hash-mismatch"
    assert problem["expected"] == claimed
    assert problem["actual"] == sha(data)
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0
    assert not await services.blobs.exists(claimed)
    assert not await services.blobs.exists(sha(data))


@pytest.fixture(params=["tmpfs", "ENOSPC", "EDQUOT"])
def full_disk(services: Services, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """The blob store's disk is full: a 64 KiB tmpfs mounted over its root (needs root; else, like the other
    params, staged writes raise the errno). Yields how it was made full."""
    assert isinstance(services.blobs, LocalBlobStore)
    root = services.blobs.root
    root.mkdir(parents=True, exist_ok=True)
    if request.param == "tmpfs":
        mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(root)]
        if subprocess.run(mount, capture_output=True, check=False).returncode == 0:
            try:
                yield "tmpfs"
            finally:
                subprocess.run(["umount", str(root)], capture_output=True, check=True)
            return
    code = errno.EDQUOT if request.param == "EDQUOT" else errno.ENOSPC

    def no_space(self: StagedFile, chunks: list[bytes]) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(StagedFile, "write", no_space)
    yield errno.errorcode[code]


async def test_a_full_disk_is_507_and_nothing_is_kept(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
    full_disk: str,
) -> None:
    data = os.urandom(MIB)
    response = await put(client, alice_token, data)
    assert response.status == 507, full_disk
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"] == PROBLEM + "insufficient-storage"
    assert problem["title"] == "Insufficient storage"
    assert "out of storage space" in problem["detail"]
    assert "Traceback" not in await response.text()
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0
    assert not await services.blobs.exists(sha(data))
    staging = services.config.data_dir / "blobs" / "tmp"
    assert not staging.exists() or list(staging.iterdir()) == []


async def test_put_without_content_length_is_411(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    raw: Any,
    pool: asyncpg.Pool,
) -> None:
    connection = await raw()
    await connection.send(head("PUT", sha(b""), alice_token))
    response = await connection.response()
    assert response.status == 411
    assert b"length-required" in response.body

    async def chunks() -> AsyncIterator[bytes]:
        yield b"chunked "
        yield b"body"

    chunked = await client.put(BLOBS + sha(b"chunked body"), data=chunks(), headers=auth(alice_token))
    assert chunked.status == 411
    assert (await chunked.json())["type"] == PROBLEM + "length-required"
    assert await rows(pool) == 0


async def test_over_the_size_limit_is_413_before_the_body_is_read(
    alice_token: str,
    limits: Any,
    raw: Any,
    pool: asyncpg.Pool,
) -> None:
    limits(max_blob_bytes=1000)
    connection = await raw()
    await connection.send(head("PUT", sha(b"x" * 1001), alice_token, "Content-Length: 1001"))
    response = await connection.response(within=3)  # nothing of the body was sent
    assert response.status == 413
    problem = problem_of(response)
    assert problem["type"] == PROBLEM + "payload-too-large"
    assert problem["limit"] == 1000
    assert await rows(pool) == 0


async def test_quota_exceeded_is_413_with_the_numbers_and_nothing_is_kept(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    await set_quota(pool, "alice", 1000)
    first, second = os.urandom(600), os.urandom(600)
    assert (await put(client, alice_token, first)).status == 201
    response = await put(client, alice_token, second)
    assert response.status == 413
    problem = await response.json()
    assert problem["type"] == PROBLEM + "quota-exceeded"
    assert (problem["limit"], problem["used"], problem["size"]) == (1000, 600, 600)
    assert "1000" in problem["detail"]
    assert await rows(pool) == 1
    assert await storage_used(pool, "alice") == 600
    assert not await services.blobs.exists(sha(second))


async def test_the_default_quota_applies_without_an_override(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    limits: Any,
) -> None:
    limits(quota_bytes=100)
    response = await put(client, alice_token, b"y" * 101)
    assert response.status == 413
    assert (await response.json())["limit"] == 100


async def test_the_quota_is_enforced_again_when_the_body_has_arrived(
    alice_token: str,
    raw: Any,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    """The check before the body passes; meanwhile other uploads fill the quota; the final count refuses."""
    await set_quota(pool, "alice", 1000)
    data = os.urandom(600)
    connection = await raw()
    await connection.send(head("PUT", sha(data), alice_token, "Content-Length: 600", "Expect: 100-continue"))
    assert (await connection.response()).status == 100
    await pool.execute("UPDATE users SET storage_used_bytes = 500 WHERE username = 'alice'")
    await connection.send(data)
    response = await connection.response()
    assert response.status == 413
    assert problem_of(response)["type"] == PROBLEM + "quota-exceeded"
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 500
    assert not await services.blobs.exists(sha(data))


async def test_concurrent_puts_near_the_quota_cannot_exceed_it(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
    limits: Any,
) -> None:
    limits(max_uploads=8)
    await set_quota(pool, "alice", 10_000)
    blobs = [os.urandom(3000) for _ in range(8)]
    responses = await asyncio.gather(*(put(client, alice_token, data) for data in blobs))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 3 + [413] * 5
    assert await storage_used(pool, "alice") == 9000
    assert await rows(pool) == 3
    stored = [await services.blobs.exists(sha(data)) for data in blobs]
    assert stored == [r.status == 201 for r in responses]


def staged_parts(services: Services) -> list[str]:
    staging = services.config.data_dir / "blobs" / "tmp"
    return sorted(p.name for p in staging.glob("put-*.part")) if staging.exists() else []


async def start_upload(raw: Any, token: str, data: bytes) -> tuple[Any, RawResponse]:
    """Send an upload's head (``Expect: 100-continue``) and a first byte of its body if it was let in."""
    connection = await raw()
    await connection.send(head("PUT", sha(data), token, f"Content-Length: {len(data)}", "Expect: 100-continue"))
    answer = await connection.response(to_head=False)
    if answer.status == 100:
        await connection.send(data[:1])
    return connection, answer


async def test_unfinished_uploads_cannot_stage_more_than_the_quota(
    alice_token: str, raw: Any, pool: asyncpg.Pool, services: Services, limits: Any
) -> None:
    """Attack: start 20 uploads of 1 MiB each under a 3 MiB quota and never finish them. The quota used to
    count only finished blobs, so all 20 were let in and staged 20 MiB on disk. Uploads in progress now
    reserve their size: three are let in, the others are refused before a byte of their body is read."""
    limits(max_uploads=50)
    await set_quota(pool, "alice", 3 * MIB)
    blobs = [os.urandom(MIB) for _ in range(20)]
    started = [await start_upload(raw, alice_token, data) for data in blobs]
    statuses = [answer.status for _, answer in started]
    assert statuses == [100] * 3 + [413] * 17
    refused = problem_of(started[3][1])
    assert refused["type"] == PROBLEM + "quota-exceeded"
    assert refused["used"] == 3 * MIB  # the reserved bytes count as used
    for _ in range(100):
        if len(staged_parts(services)) == 3:
            break
        await asyncio.sleep(0.02)
    assert len(staged_parts(services)) == 3
    # One finishes: its bytes are now stored, not reserved; the two still in progress keep their places.
    first, _ = started[0]
    await first.send(blobs[0][1:])
    assert (await first.response()).status == 201
    assert await storage_used(pool, "alice") == MIB
    _, again = await start_upload(raw, alice_token, os.urandom(MIB))
    assert again.status == 413
    # One is abandoned: its reservation is given back.
    await started[1][0].close()
    for _ in range(250):
        _, later = await start_upload(raw, alice_token, os.urandom(MIB))
        if later.status == 100:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("an abandoned upload kept its reservation")


async def test_uploads_in_progress_per_user_are_capped(
    alice_token: str, bob_token: str, raw: Any, services: Services, limits: Any
) -> None:
    limits(max_uploads=2)
    first, answer = await start_upload(raw, alice_token, os.urandom(1000))
    assert answer.status == 100
    assert (await start_upload(raw, alice_token, os.urandom(1000)))[1].status == 100
    _, third = await start_upload(raw, alice_token, os.urandom(1000))
    assert third.status == 429
    assert problem_of(third)["type"] == PROBLEM + "rate-limited"
    assert int(third.headers["retry-after"]) > 0
    # Another user is not held back by Alice's uploads.
    assert (await start_upload(raw, bob_token, os.urandom(1000)))[1].status == 100
    await first.close()
    for _ in range(250):  # until the server has seen the first one end
        _, later = await start_upload(raw, alice_token, os.urandom(1000))
        if later.status == 100:
            break
        assert later.status == 429
        await asyncio.sleep(0.02)
    else:
        pytest.fail("a closed upload kept its place")


async def test_an_idle_upload_is_dropped_and_its_staged_file_removed(
    alice_token: str, raw: Any, pool: asyncpg.Pool, services: Services, limits: Any
) -> None:
    """Attack: begin an upload and stop sending (a slow-body client holding a staged file and a place)."""
    limits(upload_idle_timeout=0.5, max_uploads=1)
    data = os.urandom(100_000)
    connection, answer = await start_upload(raw, alice_token, data)
    assert answer.status == 100
    await connection.send(data[1:10])
    dropped = await connection.response(within=5)
    assert dropped.status == 408
    assert problem_of(dropped)["type"] == PROBLEM + "request-timeout"
    assert staged_parts(services) == []
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0
    # Its place is free again.
    assert (await start_upload(raw, alice_token, os.urandom(10)))[1].status == 100


class CancellingServer(TestServer):
    """The test server, with aiohttp's handler cancellation on a lost client switched on or off."""

    def __init__(self, app: web.Application, *, cancel: bool) -> None:
        super().__init__(app)
        self.cancel = cancel

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return web.AppRunner(self.app, **{**kwargs, "handler_cancellation": self.cancel})


@pytest.mark.parametrize("cancel", [False, True], ids=["as-served", "handler-cancelled"])
async def test_a_body_cut_short_keeps_nothing(
    aiohttp_client: Any,
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
    cancel: bool,
) -> None:
    """The client hangs up after 10 of 1000 bytes: ``mnwd serve`` reads on (a 400 nobody gets); the test
    server's default cancels the handler. Either way no row, no quota, no file, no staged part is left."""
    server = await aiohttp_client(CancellingServer(create_app(services), cancel=cancel))
    data = os.urandom(1000)
    connection = await RawConnection.open(server)
    await connection.send(head("PUT", sha(data), alice_token, "Content-Length: 1000", "Expect: 100-continue"))
    assert (await connection.response()).status == 100  # the server is now reading the body
    await connection.send(data[:10])
    await connection.close()
    for _ in range(250):  # until the server has finished with the request
        if finished_puts(services):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the server never finished the cut-short request")
    # Cancelled, the handler may still see the cut-short body first and answer 400 to nobody.
    assert finished_puts(services) in ([{"499": 1.0}, {"400": 1.0}] if cancel else [{"400": 1.0}])
    staging = services.config.data_dir / "blobs" / "tmp"
    for _ in range(250):  # a cancelled handler's staged part is removed in a thread, maybe just after it ends
        if not staging.exists() or not any(staging.iterdir()):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail(f"a staged part was left: {list(staging.iterdir())}")
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0
    assert not await services.blobs.exists(sha(data))


def finished_puts(services: Services) -> dict[str, float]:
    """Answered PUTs of blobs by status, as the request metrics count them (a cancelled one as 499)."""
    return {
        sample.labels["status"]: sample.value
        for metric in services.metrics.registry.collect()
        if metric.name == "mnwd_http_requests"
        for sample in metric.samples
        if sample.name == "mnwd_http_requests_total"
        and sample.labels["route"] == BLOBS + "{sha256}"
        and sample.labels["method"] == "PUT"
    }


async def test_an_unknown_expectation_is_417(alice_token: str, raw: Any) -> None:
    connection = await raw()
    await connection.send(head("PUT", sha(b"x"), alice_token, "Content-Length: 1", "Expect: a-pony"))
    assert (await connection.response()).status == 417


class VanishingStore:
    """The local store, with the bytes deleted right after each put: a concurrent delete won the race."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    async def put(self, stream: AsyncIterable[bytes], **kwargs: Any) -> BlobInfo:
        info = await self.store.put(stream, **kwargs)
        await self.store.delete(info.sha256)
        return info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_bytes_deleted_during_the_upload_are_not_recorded(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    services.blobs = VanishingStore(services.blobs)  # type: ignore[assignment]
    response = await put(client, alice_token, b"gone")
    assert response.status == 409
    assert (await response.json())["type"] == PROBLEM + "conflict"
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0


async def test_an_upload_restores_bytes_the_store_lost(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    data = os.urandom(500)
    assert (await put(client, alice_token, data)).status == 201
    await services.blobs.delete(sha(data))
    again = await put(client, alice_token, data)
    assert again.status == 200
    assert await services.blobs.exists(sha(data))
    assert await storage_used(pool, "alice") == 500
    assert await (await client.get(BLOBS + sha(data), headers=auth(alice_token))).read() == data


# --- ranges and conditional requests ---

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
async def stored(client: TestClient, alice_token: str) -> str:  # type: ignore[type-arg]
    assert (await put(client, alice_token, DATA)).status == 201
    return sha(DATA)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=0-0", 0, 1),
        ("bytes=10000-", 10000, 10240),
        ("bytes=-100", 10140, 10240),
        ("bytes=-99999", 0, 10240),
        ("bytes=10200-99999999999999999999999", 10200, 10240),
        ("BYTES = 5 - 9", 5, 10),
    ],
)
async def test_a_range_is_206_with_content_range(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: str,
    header: str,
    start: int,
    end: int,
) -> None:
    response = await client.get(BLOBS + stored, headers=auth(alice_token, Range=header))
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/10240"
    assert response.headers["Content-Length"] == str(end - start)
    assert await response.read() == DATA[start:end]


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=abc", "bytes=-"])
async def test_several_or_malformed_ranges_get_the_whole_blob(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: str,
    header: str,
) -> None:
    response = await client.get(BLOBS + stored, headers=auth(alice_token, Range=header))
    assert response.status == 200
    assert "Content-Range" not in response.headers
    assert await response.read() == DATA


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: str,
    header: str,
) -> None:
    response = await client.get(BLOBS + stored, headers=auth(alice_token, Range=header))
    assert response.status == 416
    assert response.headers["Content-Range"] == "bytes */10240"
    assert (await response.json())["type"] == PROBLEM + "range-not-satisfiable"


async def test_ranges_of_an_empty_blob(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    assert (await put(client, alice_token, b"")).status == 201
    empty = BLOBS + sha(b"")
    assert (await client.get(empty, headers=auth(alice_token, Range="bytes=0-"))).status == 416
    suffix = await client.get(empty, headers=auth(alice_token, Range="bytes=-10"))
    assert suffix.status == 200
    assert await suffix.read() == b""


async def test_if_range_serves_the_range_only_for_this_etag(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: str,
) -> None:
    same = await client.get(BLOBS + stored, headers=auth(alice_token, Range="bytes=0-9", **{"If-Range": f'"{stored}"'}))
    assert same.status == 206
    other = await client.get(BLOBS + stored, headers=auth(alice_token, Range="bytes=0-9", **{"If-Range": '"old"'}))
    assert other.status == 200
    assert await other.read() == DATA


async def test_head_with_a_range(client: TestClient, alice_token: str, stored: str) -> None:  # type: ignore[type-arg]
    response = await client.head(BLOBS + stored, headers=auth(alice_token, Range="bytes=100-199"))
    assert response.status == 206
    assert response.headers["Content-Range"] == "bytes 100-199/10240"
    assert response.headers["Content-Length"] == "100"


@pytest.mark.parametrize(
    ("header", "status"), [("{etag}", 304), ('W/"{sha}"', 304), ('"other", {etag}', 304), ("*", 304), ('"x"', 200)]
)
async def test_if_none_match(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    stored: str,
    header: str,
    status: int,
) -> None:
    value = header.format(etag=f'"{stored}"', sha=stored)
    for method in ("GET", "HEAD"):
        response = await client.request(method, BLOBS + stored, headers=auth(alice_token, **{"If-None-Match": value}))
        assert response.status == status
        assert response.headers["ETag"] == f'"{stored}"'
        if status == 304:
            assert await response.read() == b""


# --- who sees what ---


async def test_another_user_or_app_gets_404_for_my_blob(
    client: TestClient,  # type: ignore[type-arg]
    alice: Browser,
    alice_token: str,
    bob_token: str,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
    stored: str,
) -> None:
    maker_id = await pool.fetchval("SELECT creator_id FROM sync_apps WHERE id = $1", notes_app.id)
    diary = await register_app(pool, maker_id, slug="diary")
    alice_in_diary = await sync_token(client, alice, diary)
    for token in (bob_token, alice_in_diary):
        for method in ("GET", "HEAD", "DELETE"):
            response = await client.request(method, BLOBS + stored, headers=auth(token))
            assert response.status == 404, (method, await response.text())
    assert await rows(pool, stored) == 1
    assert (await client.get(BLOBS + stored, headers=auth(alice_token))).status == 200


async def test_the_same_bytes_for_another_user_must_be_uploaded_in_full(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    bob_token: str,
    stored: str,
    raw: Any,
    pool: asyncpg.Pool,
) -> None:
    """Bob may not learn that Alice has these bytes, nor claim them without sending them: no 200 before the body."""
    connection = await raw()
    await connection.send(head("PUT", stored, bob_token, f"Content-Length: {len(DATA)}", "Expect: 100-continue"))
    assert (await connection.response()).status == 100
    await connection.send(DATA)
    assert (await connection.response()).status == 201
    assert await storage_used(pool, "bob") == len(DATA)
    assert await storage_used(pool, "alice") == len(DATA)
    assert await rows(pool, stored) == 2


BAD_KEYS = [
    sha(b"x").upper(),
    sha(b"x")[:63],
    sha(b"x") + "0",
    "z" * 64,
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "..%2F" + sha(b"x"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_a_malformed_address_is_400_for_every_method(
    alice_token: str,
    raw: Any,
    services: Services,
    key: str,
) -> None:
    """The address never reaches the store: no path like ``../../etc/passwd`` is built from it."""
    for method in ("PUT", "GET", "HEAD", "DELETE"):
        connection = await raw()
        await connection.send(head(method, key, alice_token, "Content-Length: 1") + b"x")
        response = await connection.response(to_head=method == "HEAD")
        assert response.status == 400, method
        assert response.headers["content-type"] == "application/problem+json"
        if method != "HEAD":
            assert problem_of(response)["type"] == PROBLEM + "bad-request"
    blobs_dir = services.config.data_dir / "blobs"
    assert not blobs_dir.exists() or not [p for p in blobs_dir.rglob("*") if p.is_file()]


async def test_a_malformed_address_is_refused_before_authentication(raw: Any) -> None:
    connection = await raw()
    await connection.send(head("GET", "ABC", None))
    response = await connection.response()
    assert response.status == 400
    assert problem_of(response)["type"] == PROBLEM + "bad-request"


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
async def test_no_token_is_401(client: TestClient, method: str) -> None:  # type: ignore[type-arg]
    response = await client.request(method, BLOBS + sha(b"x"), data=b"x")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = await client.request(method, BLOBS + sha(b"x"), data=b"x", headers=auth("mnwd_at_nope"))
    assert bad.status == 401


# --- delete ---


async def test_delete_gives_back_the_quota_and_the_sweep_removes_the_bytes(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    services: Services,
    stored: str,
) -> None:
    response = await client.delete(BLOBS + stored, headers=auth(alice_token))
    assert response.status == 204
    assert await rows(pool) == 0
    assert await storage_used(pool, "alice") == 0
    assert (await client.get(BLOBS + stored, headers=auth(alice_token))).status == 404
    assert (await client.delete(BLOBS + stored, headers=auth(alice_token))).status == 404
    assert await services.blobs.exists(stored)  # until the collect job has run
    assert await services.jobs.run_due() == 1
    assert not await services.blobs.exists(stored)
    assert await services.jobs.run_due() == 0


async def test_shared_bytes_stay_until_the_last_owner_deletes_them(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    bob_token: str,
    services: Services,
    stored: str,
) -> None:
    assert (await put(client, bob_token, DATA)).status == 201
    assert (await client.delete(BLOBS + stored, headers=auth(alice_token))).status == 204
    assert await services.jobs.run_due() == 1
    assert await services.blobs.exists(stored)
    got = await client.get(BLOBS + stored, headers=auth(bob_token))
    assert await got.read() == DATA
    assert (await client.delete(BLOBS + stored, headers=auth(bob_token))).status == 204
    assert await services.jobs.run_due() == 1
    assert not await services.blobs.exists(stored)


class CountingStore:
    """The local store, counting the calls made to it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.store, name)


async def test_delete_does_the_same_work_whether_or_not_others_store_the_bytes(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    bob_token: str,
    services: Services,
    query_count: QueryCount,
) -> None:
    """Attack: Alice deletes a blob and times the answer; it took longer when nobody else stored the same bytes
    (the file was deleted there and then), so she learnt whether someone else holds a given file. DELETE now
    only forgets her row: the same statements, no store call, and the bytes are judged later by a job."""
    shared, alone = os.urandom(4000), os.urandom(4000)
    for data in (shared, alone):
        assert (await put(client, alice_token, data)).status == 201
    assert (await put(client, bob_token, shared)).status == 201
    work = []
    for data in (shared, alone):
        store = CountingStore(services.blobs)
        services.blobs = store  # type: ignore[assignment]
        try:
            async with query_count() as statements:
                assert (await client.delete(BLOBS + sha(data), headers=auth(alice_token))).status == 204
        finally:
            services.blobs = store.store
        work.append((statements, store.calls))
    assert work[0] == work[1]
    assert work[0][1] == []
    assert await services.blobs.exists(sha(alone))  # until the collect job has run
    assert await services.jobs.run_due() == 2
    assert await services.blobs.exists(sha(shared))
    assert not await services.blobs.exists(sha(alone))


class ReferencingStore:
    """The local store whose delete first lets another upload of the same bytes record its row: the sweep
    checked for references, then a new reference appeared before it deleted."""

    def __init__(self, store: BlobStore, record: Any) -> None:
        self.store = store
        self.record = record

    async def delete(self, sha256: str) -> bool:
        await self.record()
        return await self.store.delete(sha256)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_the_sweep_never_removes_bytes_a_new_upload_records_meanwhile(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    bob_token: str,
    pool: asyncpg.Pool,
    services: Services,
) -> None:
    """Race: the collect job runs while Bob uploads the bytes Alice just deleted. Either Bob's row is
    recorded first and the bytes stay, or the bytes go first and Bob's upload is refused (409): never a row
    without its bytes."""
    data = os.urandom(3000)
    assert (await put(client, alice_token, data)).status == 201
    assert (await client.delete(BLOBS + sha(data), headers=auth(alice_token))).status == 204
    answers: list[int] = []

    async def bob_uploads() -> None:
        if uploads:  # a failed upload collects too: only the sweep's delete races
            return
        # The job holds the hash's exclusive lock: Bob's insert waits for it (in a task, or this would deadlock).
        upload = asyncio.create_task(put(client, bob_token, data))
        await asyncio.sleep(0.3)
        answers.append(-1 if not upload.done() else upload.result().status)
        uploads.append(upload)

    uploads: list[asyncio.Task[ClientResponse]] = []
    services.blobs = ReferencingStore(services.blobs, bob_uploads)  # type: ignore[assignment]
    try:
        assert await services.jobs.run_due() == 1
        status = (await uploads[0]).status
    finally:
        services.blobs = services.blobs.store  # type: ignore[attr-defined]
    assert answers == [-1]  # Bob's upload waited for the sweep
    bob_rows = await rows(pool, sha(data))
    if status == 409:
        assert bob_rows == 0
    else:
        assert status == 201
        assert bob_rows == 1
        assert await services.blobs.exists(sha(data))
    # Either way, a stored row always has its bytes.
    assert bob_rows == 0 or await services.blobs.exists(sha(data))


async def test_a_failed_upload_leaves_bytes_someone_else_owns(
    alice_token: str,
    bob_token: str,
    raw: Any,
    pool: asyncpg.Pool,
    services: Services,
    stored: str,
) -> None:
    """Bob's upload of Alice's bytes fails at the final quota count; the stored file is still Alice's."""
    await set_quota(pool, "bob", len(DATA))
    connection = await raw()
    await connection.send(head("PUT", stored, bob_token, f"Content-Length: {len(DATA)}", "Expect: 100-continue"))
    assert (await connection.response()).status == 100
    await pool.execute("UPDATE users SET storage_used_bytes = 1 WHERE username = 'bob'")
    await connection.send(DATA)
    assert (await connection.response()).status == 413
    assert await services.blobs.exists(stored)
    assert await rows(pool, stored) == 1
