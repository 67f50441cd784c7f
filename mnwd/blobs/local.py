"""`LocalBlobStore`: blobs as files under one directory, ``root/ab/cd/<sha256>``.

A put streams into ``root/tmp/`` (the same file system), is fsynced, and is renamed into place
with `os.replace`, so a blob's path holds either nothing or the whole content. A full disk (ENOSPC, EDQUOT)
raises `BlobStorageFull`, a 507 problem, and removes the staged file. A crash can leave
``put-*.part`` files in ``root/tmp/``; they are never read, and maintenance removes them once an hour old
(`mnwd.blobs.sweep_stale_staged`).
File I/O runs in the default executor, a batch or a chunk per trip, so the event loop never waits on the disk;
except for `open_file`'s file, which the HTTP layer hands to ``sendfile``: the kernel then copies the pages to
the socket from the event loop's thread, a socket buffer's worth per call, and a page not in the page cache is
read there (the range was asked ahead with ``POSIX_FADV_WILLNEED`` when the file was opened, in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncGenerator, AsyncIterable
from functools import partial
from pathlib import Path
from typing import BinaryIO

from mnwd.blobs.errors import BlobNotFound, mapping_full_disk
from mnwd.blobs.staging import discard_staged, stage_stream
from mnwd.blobs.store import (
    BlobInfo,
    BlobStream,
    StoredBlob,
    check_blob_key,
    check_blob_range,
    check_list_page,
    clamp_blob_range,
    is_blob_key,
)

__all__ = ["LocalBlobStore"]

READ_CHUNK = 256 * 1024


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging_dir = root / "tmp"

    def _path(self, sha256: str) -> Path:
        key = check_blob_key(sha256)
        return self.root / key[0:2] / key[2:4] / key

    async def put(
        self, stream: AsyncIterable[bytes], *, expected_sha256: str | None = None, max_size: int | None = None
    ) -> BlobInfo:
        if expected_sha256 is not None:
            check_blob_key(expected_sha256)
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must not be negative, not {max_size}")
        with mapping_full_disk():
            await asyncio.to_thread(self.staging_dir.mkdir, parents=True, exist_ok=True)
        staged, info = await stage_stream(
            stream, self.staging_dir, expected_sha256=expected_sha256, max_size=max_size, executor=None, durable=True
        )
        try:
            # Replacing even when the blob exists leaves it in place however a concurrent delete falls.
            with mapping_full_disk():
                await asyncio.to_thread(staged.move_to, self._path(info.sha256))
        finally:
            await discard_staged(None, staged)
        return info

    async def open(self, sha256: str, *, start: int = 0, end: int | None = None) -> BlobStream:
        path = self._path(sha256)
        check_blob_range(start, end)
        info = await self.stat(sha256)
        if info is None:
            raise BlobNotFound(sha256)
        first, stop = clamp_blob_range(start, end, info.size)
        return BlobStream(sha256, info.size, first, stop, _read_file(path, sha256, first, stop))

    async def open_file(self, sha256: str, *, start: int = 0, end: int | None = None) -> BinaryIO | None:
        path = self._path(sha256)
        check_blob_range(start, end)
        return await asyncio.to_thread(_open_file, path, start, end)

    async def stat(self, sha256: str) -> BlobInfo | None:
        size = await asyncio.to_thread(_size_of, self._path(sha256))
        return None if size is None else BlobInfo(sha256, size)

    async def exists(self, sha256: str) -> bool:
        return await self.stat(sha256) is not None

    async def delete(self, sha256: str) -> bool:
        return await asyncio.to_thread(_unlink, self._path(sha256))

    async def list_page(self, after: str, limit: int) -> list[StoredBlob]:
        check_list_page(after, limit)
        return await asyncio.to_thread(_list_page, self.root, after, limit)

    async def presigned_url(self, sha256: str, *, expires_in: int = 3600) -> str | None:
        check_blob_key(sha256)
        return None

    async def close(self) -> None:
        return None


async def _read_file(path: Path, sha256: str, start: int, end: int) -> AsyncGenerator[bytes, None]:
    """Bytes ``[start, end)`` of ``path``; the file is opened on the first read and closed at the end."""
    if start >= end:
        return
    fd = await asyncio.to_thread(_open_for_reading, path)
    if fd is None:
        raise BlobNotFound(sha256)
    try:
        position = start
        while position < end:
            chunk = await asyncio.to_thread(partial(os.pread, fd, min(READ_CHUNK, end - position), position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk
    finally:
        os.close(fd)


# Missing files are answered inside the thread rather than raised across it: an exception coming
# back through to_thread stops coverage tracing the awaiting frames on Python 3.11.


_HEX_PAIR = re.compile(r"[0-9a-f]{2}")


def _sorted_names(directory: Path, pattern: re.Pattern[str] | None) -> list[str]:
    try:
        return sorted(name for name in os.listdir(directory) if pattern is None or pattern.fullmatch(name))
    except FileNotFoundError:
        return []


def _list_page(root: Path, after: str, limit: int) -> list[StoredBlob]:
    """Walks ``root/ab/cd/`` in key order from ``after``'s directories on: a page reads only the directories
    it needs."""
    found: list[StoredBlob] = []
    for first in _sorted_names(root, _HEX_PAIR):
        if first < after[:2]:
            continue
        for second in _sorted_names(root / first, _HEX_PAIR):
            if first + second < after[:4]:
                continue
            directory = root / first / second
            for name in _sorted_names(directory, None):
                if name <= after or not name.startswith(first + second) or not is_blob_key(name):
                    continue
                try:
                    written_at = (directory / name).stat().st_mtime
                except FileNotFoundError:
                    continue  # deleted since the directory was read
                found.append(StoredBlob(name, written_at))
                if len(found) == limit:
                    return found
    return found


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _open_file(path: Path, start: int, end: int | None) -> BinaryIO | None:
    """``path`` opened unbuffered (``sendfile`` reads the descriptor, not a Python buffer), its range asked
    of the kernel ahead of the sending, which then waits less on the disk in the event loop."""
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (the caller closes it)
    except FileNotFoundError:
        return None
    if end is None or end > start:
        with contextlib.suppress(OSError):  # only a hint (some file systems refuse it)
            os.posix_fadvise(file.fileno(), start, 0 if end is None else end - start, os.POSIX_FADV_WILLNEED)
    return file


def _open_for_reading(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
