"""HTTP details shared by every handler that serves bytes or streams: byte ranges (RFC 9110 §14), entity
tags and conditional requests, server-sent event framing, writing to a stream from synchronous code
(`write_now`), and sending a stored blob as a response's body (`open_blob`, `send_blob`)."""

from __future__ import annotations

import asyncio
import re
from typing import BinaryIO

import msgspec
from aiohttp import web

from mnwd.blobs import BlobStore, BlobStream
from mnwd.errors import Problem

__all__ = [
    "RangeNotSatisfiable",
    "byte_range",
    "close_blob",
    "etag_matches",
    "open_blob",
    "send_blob",
    "sse_event",
    "strong_etag",
    "write_now",
]


class RangeNotSatisfiable(Problem):
    status = 416
    slug = "range-not-satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range starts beyond the {size} bytes there are.", size=size)
        self.headers["Content-Range"] = f"bytes */{size}"


_RANGE = re.compile(r"bytes[ \t]*=[ \t]*(?:([0-9]+)[ \t]*-[ \t]*([0-9]*)|-[ \t]*([0-9]+))[ \t]*", re.IGNORECASE)
_HUGE = 1 << 63  # beyond any blob: a position of more digits than this is past the end of every one


def _number(digits: str) -> int:
    return int(digits) if len(digits.lstrip("0")) <= 18 else _HUGE


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open ``[start, end)`` a ``Range`` header asks of a blob of ``size`` bytes; None: send it whole.

    One range of bytes is served (``a-b``, ``a-``, ``-n``); several ranges, other units and malformed headers
    are ignored, as RFC 9110 allows, and the whole blob is sent with 200. A range starting at or past the end
    raises `RangeNotSatisfiable`.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = _number(suffix)
        if length == 0:
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None
        return max(size - length, 0), size
    start = _number(first)
    if last and _number(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, size if not last else min(_number(last) + 1, size)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``."""
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def strong_etag(value: str) -> str:
    return f'"{value}"'


def sse_event(name: str, data: object) -> bytes:
    """One server-sent event: ``event: <name>``, its ``data`` as one line of JSON, a blank line."""
    return b"event: " + name.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


def write_now(request: web.Request, response: web.StreamResponse, data: bytes) -> bool:
    """Write ``data`` to a streaming response that has already written part of its body, at once and without
    waiting, when that is exactly what ``await response.write(data)`` would send: one chunk of an HTTP/1.1
    chunked body (how aiohttp sends a `web.StreamResponse` of no length), uncompressed, on a connection that
    is open and has nothing queued (so there is no back-pressure to wait for and no earlier byte to
    overtake). False when any of that does not hold: nothing was written, write it the usual way."""
    transport = request.transport
    if (
        transport is None
        or transport.is_closing()
        or transport.get_write_buffer_size()
        or not response.prepared
        or not response.chunked
        or response.compression
    ):
        return False
    transport.write(b"%x\r\n%b\r\n" % (len(data), data))
    return True


async def open_blob(store: BlobStore, sha256: str, start: int, end: int) -> BinaryIO | BlobStream:
    """Bytes ``[start, end)`` of a stored blob, to give to `send_blob`: its own file when the store keeps one
    on the local disk (sent with ``sendfile``, and readable whole even if the blob is deleted meanwhile),
    else the store's stream (S3). Raises `mnwd.blobs.BlobNotFound`."""
    file = await store.open_file(sha256, start=start, end=end)
    if file is not None:
        return file
    return await store.open(sha256, start=start, end=end)


async def send_blob(
    request: web.Request, response: web.StreamResponse, source: BinaryIO | BlobStream, start: int, end: int
) -> web.StreamResponse:
    """Send ``response`` (its headers set, its length ``end - start``) with the bytes `open_blob` opened: a file
    straight from the page cache to the socket, as aiohttp's `web.FileResponse` does, or a stream chunk by
    chunk. Closes ``source``. A client that goes away meanwhile ends it quietly: there is nobody to answer."""
    try:
        await response.prepare(request)
        if isinstance(source, BlobStream):
            async for chunk in source:
                await response.write(chunk)
        elif end > start:  # a count of 0 would mean "to the end of the file"
            transport = request.transport
            if transport is None or transport.is_closing():  # else sendfile raises RuntimeError, a 500
                return response
            await asyncio.get_running_loop().sendfile(transport, source, start, end - start)
    except ConnectionError:
        return response
    finally:
        await close_blob(source)
    await response.write_eof()
    return response


async def close_blob(source: BinaryIO | BlobStream) -> None:
    """What `open_blob` opened, closed unsent (`send_blob` closes what it sends)."""
    if isinstance(source, BlobStream):
        await source.aclose()
    else:
        source.close()
