"""Blobs (docs/sync.md "Blobs"): files named by the SHA-256 of their content.

``put`` hashes the file, queues the upload in the local store, asks the server with ``HEAD`` whether it
already holds it, streams it with its ``Content-Length`` otherwise, and takes it off the queue once the server
answered ``200``/``201``; `resume` sends what a crash or a lost network left queued. ``get`` streams to a file
next to the target, checks the hash and only then renames it into place, so a bad download never replaces
anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from mnw_synckit._http import NETWORK_ERRORS, Api, problem_of
from mnw_synckit._store import Store
from mnw_synckit.errors import BlobCorrupt, OfflineError, ServerError

__all__ = ["Blobs", "Progress"]

CHUNK = 256 * 1024
Progress = Callable[[int, int], None]
"""``(bytes_done, bytes_total)``."""


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_of_file_if_any(path: Path) -> str | None:
    return _hash_file(path) if path.is_file() else None


class Blobs:
    def __init__(self, api: Api, store: Store) -> None:
        self.api = api
        self.store = store

    async def put(self, path: str | Path, *, content_type: str | None = None, progress: Progress | None = None) -> str:
        """Upload ``path`` unless the server has it; its SHA-256."""
        path = await asyncio.to_thread(Path(path).resolve)
        sha256 = await asyncio.to_thread(_hash_file, path)
        kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await self.store.call(self.store.queue_upload, sha256, str(path), kind)
        try:
            await self._upload(sha256, path, kind, progress)
        except NETWORK_ERRORS as error:
            raise OfflineError(f"upload of {path.name} stays queued: {error!r}") from error
        return sha256

    async def resume(self, progress: Progress | None = None) -> list[str]:
        """Upload what is still queued (from before a crash or a lost network); the hashes sent."""
        done = []
        for sha256, path, kind in await self.store.call(self.store.uploads):
            if await asyncio.to_thread(_hash_of_file_if_any, Path(path)) != sha256:
                await self.store.call(self.store.finish_upload, sha256)  # the file is gone or changed
                continue
            try:
                await self._upload(sha256, Path(path), kind, progress)
            except NETWORK_ERRORS as error:
                raise OfflineError(f"upload of {path} stays queued: {error!r}") from error
            done.append(sha256)
        return done

    async def exists(self, sha256: str) -> bool:
        async with self.api.send("HEAD", f"/sync/v1/blobs/{sha256}") as response:
            if response.status in (200, 404):
                return response.status == 200
            raise ServerError(response.status, None, "HEAD of a blob failed")

    async def _upload(self, sha256: str, path: Path, kind: str, progress: Progress | None) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        if await self.exists(sha256):
            if progress is not None:
                progress(size, size)
            await self.store.call(self.store.finish_upload, sha256)
            return

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent, size)

        headers = {"Content-Type": kind, "Content-Length": str(size)}
        async with self.api.send("PUT", f"/sync/v1/blobs/{sha256}", headers=headers, data=chunks()) as response:
            if response.status not in (200, 201):
                raise ServerError(response.status, await problem_of(response))
        await self.store.call(self.store.finish_upload, sha256)

    async def get(self, sha256: str, dest: str | Path, *, progress: Progress | None = None) -> Path:
        """Download to ``dest``, checking the hash before the file appears there."""
        dest = Path(dest)
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        async with self.api.send("GET", f"/sync/v1/blobs/{sha256}") as response:
            if response.status != 200:
                raise ServerError(response.status, await problem_of(response))
            total, done = int(response.headers.get("Content-Length", "0")), 0
            with partial.open("wb") as file:
                async for chunk in response.content.iter_chunked(CHUNK):
                    digest.update(chunk)
                    await asyncio.to_thread(file.write, chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                file.flush()
                os.fsync(file.fileno())
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise BlobCorrupt(f"blob {sha256} arrived as {digest.hexdigest()}")
        os.replace(partial, dest)
        return dest

    async def delete(self, sha256: str) -> None:
        async with self.api.send("DELETE", f"/sync/v1/blobs/{sha256}") as response:
            if response.status not in (204, 404):
                raise ServerError(response.status, await problem_of(response))
