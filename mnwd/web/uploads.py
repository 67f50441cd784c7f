"""Request bodies kept as files (sync blobs, the store's file versions, OTA artifacts): a body read to exactly
its declared length, and the media types kept with it and served with it.

- `exactly(chunks, size, idle, on_chunk=None)`: ``chunks``, failing with `IncompleteBody` unless they add up to
  ``size`` bytes (fewer, more, or the client gone), or `UploadIdle` when no chunk arrives for ``idle`` seconds;
  so a `BlobStore.put` fed by it keeps nothing of a cut upload. ``on_chunk`` sees each chunk (a running hash).
- `LengthRequired`: 411 for a body sent without ``Content-Length``; `declared_length(request, what)` is the
  ``Content-Length`` of a PUT or that 411 (a chunked body's size is not known before it is read).
- `defer_continue` is the ``expect_handler`` of such routes: a client that sent ``Expect: 100-continue`` is
  told nothing until `send_continue(request)`, called once every check that needs no body has passed, so a
  refused upload is refused before a byte of it is sent.
- `clean_content_type(value)`: the type to keep (None when absent); 400 when it is not a media type.
- `served_content_type(value)`: the kept type if a browser only displays it, else ``application/octet-stream``:
  an uploader's word never makes our origin serve a page (text/html, image/svg+xml, scripts).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable

from aiohttp import web
from aiohttp.http import HttpVersion11

from mnwd.errors import BadRequest, Problem

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "IncompleteBody",
    "LengthRequired",
    "UploadIdle",
    "clean_content_type",
    "declared_length",
    "defer_continue",
    "exactly",
    "send_continue",
    "served_content_type",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE_CHARS = 255
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[\x20-\x7e\t]*)?")
# Types a browser only displays or downloads, never runs.
INERT_CONTENT_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
        "text/plain",
    }
)
INERT_CONTENT_TYPE_PREFIXES = ("audio/", "video/")


class IncompleteBody(BadRequest):
    def __init__(self, expected: int, received: int) -> None:
        super().__init__(
            f"The body had {received} bytes where Content-Length promised {expected}; nothing was stored.",
            expected=expected,
            received=received,
        )


class LengthRequired(Problem):
    status = 411
    slug = "length-required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class UploadIdle(Problem):
    status = 408
    slug = "request-timeout"

    def __init__(self, idle: float) -> None:
        super().__init__(
            f"No part of the body arrived for {idle:g} seconds; the upload was dropped and nothing was stored.",
            idle_seconds=idle,
        )


async def exactly(
    chunks: AsyncIterable[bytes], size: int, idle: float, on_chunk: Callable[[bytes], object] | None = None
) -> AsyncIterator[bytes]:
    received = 0
    iterator = aiter(chunks)
    try:
        while True:
            try:
                async with asyncio.timeout(idle):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise UploadIdle(idle) from None
            received += len(chunk)
            if received > size:
                raise IncompleteBody(size, received)
            if on_chunk is not None:
                on_chunk(chunk)
            yield chunk
    except ConnectionError:
        # The client went away mid-body; nobody reads the answer, but nothing may be kept either.
        raise IncompleteBody(size, received) from None
    if received != size:
        raise IncompleteBody(size, received)


def clean_content_type(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_CONTENT_TYPE_CHARS or _CONTENT_TYPE.fullmatch(value) is None:
        raise BadRequest(
            "Content-Type must be a media type such as application/octet-stream, "
            f"at most {MAX_CONTENT_TYPE_CHARS} characters."
        )
    return value


def served_content_type(content_type: str | None) -> str:
    if not content_type:
        return DEFAULT_CONTENT_TYPE
    essence = content_type.split(";", 1)[0].strip().lower()
    if essence in INERT_CONTENT_TYPES or essence.startswith(INERT_CONTENT_TYPE_PREFIXES):
        return content_type
    return DEFAULT_CONTENT_TYPE


def declared_length(request: web.Request, what: str) -> int:
    if "Transfer-Encoding" in request.headers or request.content_length is None:
        raise LengthRequired(f"Send {what} with a Content-Length header (not chunked), so its size is known first.")
    return request.content_length


async def defer_continue(request: web.Request) -> None:
    if request.headers.get("Expect", "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {request.headers.get('Expect')}")


async def send_continue(request: web.Request) -> None:
    if request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
