"""Receiving a stream into a temporary file while hashing it, so memory stays bounded.

Both stores stage first, because the hash that names a blob is known only at the end of the
stream: `LocalBlobStore` then moves the file into place, `S3BlobStore` uploads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterable, Callable
from concurrent.futures import Executor
from functools import partial
from pathlib import Path
from typing import TypeVar

from mnwd.blobs.errors import BlobHashMismatch, BlobTooLarge, mapping_full_disk
from mnwd.blobs.store import BlobInfo

__all__ = ["BATCH_SIZE", "STAGED_PATTERN", "StagedFile", "stage_stream", "sweep_stale_staged"]

BATCH_SIZE = 1 << 20
"""Chunks are gathered up to this many bytes before one trip to a thread writes and hashes them."""

STAGED_PATTERN = "put-*.part"

T = TypeVar("T")


class StagedFile:
    """A temporary file being filled. Its methods block, and a lock orders them across threads.

    The lock matters when a put is cancelled: the thread may still be writing a batch while the event
    loop already asks for the file to be discarded, and the discard must come after that write.
    """

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="put-", suffix=".part")  # STAGED_PATTERN
        self.path = Path(name)
        self._fd: int | None = fd
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()
        self._kept = False

    def write(self, chunks: list[bytes]) -> None:
        with self._lock:
            if self._fd is None:
                return
            for chunk in chunks:
                self._hash.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._fd, view) :]

    def finish(self, *, durable: bool) -> str:
        """Close the file (fsynced if ``durable``) and return the hex SHA-256 of what was written."""
        with self._lock:
            if self._fd is None:
                raise RuntimeError("staged file already closed")
            fd, self._fd = self._fd, None
            try:
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            return self._hash.hexdigest()

    def move_to(self, target: Path) -> None:
        """Atomically put the finished file at ``target`` (replacing it) and make the rename durable."""
        with self._lock:
            created = [d for d in (target.parent.parent, target.parent) if not d.exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, target)
            self._kept = True
            fsync_directory(target.parent)
            for directory in created:
                fsync_directory(directory.parent)

    def discard(self) -> None:
        """Close and remove the file unless it was moved into place; safe to call more than once."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not self._kept:
                self.path.unlink(missing_ok=True)


def sweep_stale_staged(directory: Path, written_before: float) -> int:
    """Remove the staged files in ``directory`` last written before ``written_before`` (seconds since the
    epoch): puts cut short by a crash or ``kill -9``, which nothing else removes. A put in progress writes
    its file as the bytes arrive, so only one stalled for that long loses it (and fails). Blocking."""
    removed = 0
    for path in directory.glob(STAGED_PATTERN):
        try:
            if path.stat().st_mtime < written_before:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def run_blocking(executor: Executor | None, fn: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(executor, fn)


async def discard_staged(executor: Executor | None, staged: StagedFile) -> None:
    """Discard ``staged`` in a thread, even if the awaiting task is cancelled meanwhile."""
    await asyncio.shield(run_blocking(executor, staged.discard))


async def _new_staged_file(executor: Executor | None, directory: Path) -> StagedFile:
    """Create the file in a thread. Cancelled meanwhile, the caller never holds it: remove it once it exists."""
    creating = asyncio.ensure_future(run_blocking(executor, partial(StagedFile, directory)))
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        creating.add_done_callback(_discard_when_made)
        raise


def _discard_when_made(creating: asyncio.Future[StagedFile]) -> None:
    if not creating.cancelled() and creating.exception() is None:
        creating.result().discard()  # closing and unlinking a file just made: quick enough for the loop


async def stage_stream(
    stream: AsyncIterable[bytes],
    directory: Path,
    *,
    expected_sha256: str | None,
    max_size: int | None,
    executor: Executor | None,
    durable: bool,
) -> tuple[StagedFile, BlobInfo]:
    """Write ``stream`` to a new file in ``directory``; on any failure the file is removed.

    A full disk raises `BlobStorageFull`. The caller owns the returned file and must `discard_staged` it
    once done, whether or not it was moved into place.
    """
    with mapping_full_disk():
        return await _stage_stream(
            stream, directory, expected_sha256=expected_sha256, max_size=max_size, executor=executor, durable=durable
        )


async def _stage_stream(
    stream: AsyncIterable[bytes],
    directory: Path,
    *,
    expected_sha256: str | None,
    max_size: int | None,
    executor: Executor | None,
    durable: bool,
) -> tuple[StagedFile, BlobInfo]:
    staged = await _new_staged_file(executor, directory)
    try:
        size = 0
        batch: list[bytes] = []
        batched = 0
        async for chunk in stream:
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise BlobTooLarge(max_size)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= BATCH_SIZE:
                pending, batch, batched = batch, [], 0
                await run_blocking(executor, partial(staged.write, pending))
        if batch:
            await run_blocking(executor, partial(staged.write, batch))
        sha256 = await run_blocking(executor, partial(staged.finish, durable=durable))
        if expected_sha256 is not None and sha256 != expected_sha256:
            raise BlobHashMismatch(expected_sha256, sha256)
    except BaseException:
        await discard_staged(executor, staged)
        raise
    return staged, BlobInfo(sha256, size)
