"""Blobs: upload and download through SyncKit's blob API (``PUT`` / ``GET /sync/v1/blobs/{sha256}``, the local
blob store, a file system under the daemon's data directory) in MB/s, one device sending blobs back to back,
in alternating rounds against a plain file copy of the same bytes on the same disk:

- upload: each blob's bytes written to a new file and fsynced (mnwd also hashes them as they arrive, fsyncs
  the rename into place and records a ``sync_blobs`` row with the quota in one transaction);
- download: the same file read back whole (both from the page cache: it was just written); and, as the floor
  of a download over HTTP, the same file from a bare aiohttp app (`web.FileResponse`, which uses ``sendfile``)
  served the same way in the same process, fetched by the same client.

Each round uploads new random bytes (a blob already stored would be answered without its body); the client
hashes them before the clock starts. Sizes: 1 MiB (``SMALL_COUNT`` of them a round) and 32 MiB.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.fixtures import NO_TIMEOUT, Device, SyncStack, serve, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate

MIB = 1 << 20
SMALL_COUNT = 8
CHUNK = 256 * 1024  # what mnwd reads from the socket at a time (mnwd.sync.blob_routes.BODY_CHUNK)


def _blobs(count: int, size: int) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(count):
        data = secrets.token_bytes(size)
        out.append((hashlib.sha256(data).hexdigest(), data))
    return out


def _copy(path: Path, data: bytes) -> None:
    """A plain durable file copy: written in chunks, fsynced, closed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:CHUNK]) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> int:
    with path.open("rb", buffering=0) as file:
        total = 0
        while chunk := file.read(CHUNK):
            total += len(chunk)
        return total


class Blobs:
    """Both sides of one blob size; the last round's blobs are the ones downloaded."""

    def __init__(
        self, stack: SyncStack, session: aiohttp.ClientSession, device: Device, count: int, size: int, bare_url: str
    ):
        self.session = session
        self.bare_url = bare_url
        self.url = f"{stack.base_url}/sync/v1/blobs"
        self.headers = {**device.headers, "Content-Type": "application/octet-stream"}
        self.copies = stack.tmp / "copies"
        self.copies.mkdir(exist_ok=True)
        self.count = count
        self.size = size
        self.uploaded: list[str] = []
        self.copied: list[Path] = []

    @property
    def megabytes(self) -> float:
        return self.count * self.size / 1e6

    async def upload(self) -> float:
        blobs = _blobs(self.count, self.size)
        started = time.perf_counter()
        for sha256, data in blobs:
            async with self.session.put(f"{self.url}/{sha256}", data=data, headers=self.headers) as response:
                answer = await response.read()
                assert response.status == 201, answer
        elapsed = time.perf_counter() - started
        self.uploaded = [sha256 for sha256, _ in blobs]
        return self.megabytes / elapsed

    async def copy(self) -> float:
        blobs = _blobs(self.count, self.size)
        paths = [self.copies / sha256 for sha256, _ in blobs]
        started = time.perf_counter()
        for path, (_, data) in zip(paths, blobs, strict=True):
            _copy(path, data)
        elapsed = time.perf_counter() - started
        self.copied = paths
        return self.megabytes / elapsed

    async def _fetch(self, url: str, headers: dict[str, str] | None = None) -> None:
        async with self.session.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            total = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                total += len(chunk)
        assert total == self.size, total

    async def download(self) -> float:
        started = time.perf_counter()
        for sha256 in self.uploaded:
            await self._fetch(f"{self.url}/{sha256}", self.headers)
        return self.megabytes / (time.perf_counter() - started)

    async def bare_download(self) -> float:
        started = time.perf_counter()
        for path in self.copied:
            await self._fetch(f"{self.bare_url}/{path.name}")
        return self.megabytes / (time.perf_counter() - started)

    async def read(self) -> float:
        started = time.perf_counter()
        for path in self.copied:
            assert _read(path) == self.size
        return self.megabytes / (time.perf_counter() - started)


async def run(options: Options) -> list[Result]:
    sizes = [(options.size(SMALL_COUNT, 4), options.size(MIB, 64 * 1024)), (1, options.size(32 * MIB, MIB))]
    results: list[Result] = []
    async with sync_stack(options) as stack:
        user = (await stack.create_users(1, prefix="files"))[0]
        # Far above what the rounds store: the default quota (1 GiB) would end a long run.
        await stack.pool.execute("UPDATE users SET max_file_override_bytes = 1::bigint << 50 WHERE id = $1", user)
        device = (await stack.mint_devices([user]))[0]
        copies = stack.tmp / "copies"
        bare = web.Application()
        bare.router.add_get("/files/{name}", lambda request: web.FileResponse(copies / request.match_info["name"]))
        bare_runner, bare_url = await serve(bare)
        try:
            async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
                await stack.register(session, device, "phone")
                for count, size in sizes:
                    sides = Blobs(stack, session, device, count, size, f"{bare_url}/files")
                    await sides.upload()  # warm-up: code paths, directories, connection
                    await sides.copy()
                    up, copy = await alternate(options, [sides.upload, sides.copy])
                    await sides.download()
                    await sides.read()
                    await sides.bare_download()
                    down, read, floor = await alternate(options, [sides.download, sides.read, sides.bare_download])
                    label = f"{size // 1024:,} KiB" if size < MIB else f"{size // MIB:,} MiB"
                    label += f" x {count}" if count > 1 else ""
                    results += [
                        Result(f"blob upload {label}", "MB/s", up, "file write + fsync", copy),
                        Result(f"blob download {label}", "MB/s", down, "file read", read),
                        Result(f"blob download {label}", "MB/s", down, "bare aiohttp FileResponse, same client", floor),
                    ]
        finally:
            await bare_runner.cleanup()
    return results
