"""Handlers: ``PUT | HEAD | GET | DELETE /sync/v1/blobs/{sha256}`` (see docs/sync_blobs.md).

The body of a PUT is streamed from the socket into the store, so it is bounded by ``sync_max_blob_bytes``
and not by the app-wide ``client_max_size`` (which only applies to ``request.read()`` and ``post()``).
Every check that needs no body (address, token, Content-Length, size limit, an existing blob, uploads in
progress, quota) is
made before a byte of it is read; a client that sent ``Expect: 100-continue`` is told to go on only then.

A GET from the local blob store sends the blob's file with ``sendfile`` (`mnwd.web.http.send_blob`): the bytes
go from the page cache to the socket without passing through Python. The file is opened before the headers
are sent, so a blob deleted meanwhile is still sent whole. From S3 the bytes are streamed as the store reads
them.
"""

from __future__ import annotations

from aiohttp import web

from mnwd.errors import NotFound
from mnwd.sync import blobs
from mnwd.sync.auth import sync_caller
from mnwd.web.body import json_response
from mnwd.web.csrf import csrf_exempt
from mnwd.web.http import byte_range, etag_matches, open_blob, send_blob, strong_etag
from mnwd.web.keys import SERVICES
from mnwd.web.uploads import clean_content_type, declared_length, defer_continue, send_continue, served_content_type

__all__ = ["BODY_CHUNK", "setup"]

PATH = "/sync/v1/blobs/{sha256}"
BODY_CHUNK = 256 * 1024
CACHE_CONTROL = "private, immutable, max-age=31536000"


def _etag(sha256: str) -> str:
    return strong_etag(sha256)


def _put_response(blob: blobs.Blob, status: int) -> web.Response:
    return json_response(blob.as_json(), status=status, headers={"ETag": _etag(blob.sha256)})


@csrf_exempt
async def put_blob(request: web.Request) -> web.Response:
    sha256 = blobs.parse_blob_key(request.match_info["sha256"])
    services = request.app[SERVICES]
    bearer = await sync_caller(request)
    size = declared_length(request, "the blob")
    content_type = clean_content_type(request.headers.get("Content-Type"))
    existing = await blobs.prepare_upload(services, bearer, sha256, size)
    if existing is not None:
        return _put_response(existing, 200)
    async with blobs.reserve_upload(services, bearer, sha256, size):
        await send_continue(request)
        chunks = request.content.iter_chunked(BODY_CHUNK)
        blob, created = await blobs.store_blob(services, bearer, sha256, size, content_type, chunks)
    return _put_response(blob, 201 if created else 200)


async def get_blob(request: web.Request) -> web.StreamResponse:
    """GET, and HEAD with the same headers and no body."""
    sha256 = blobs.parse_blob_key(request.match_info["sha256"])
    services = request.app[SERVICES]
    bearer = await sync_caller(request)
    blob = await blobs.get_blob(services.pool, bearer, sha256)
    if blob is None:
        raise NotFound("There is no such blob.")
    etag = _etag(sha256)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    if_range = request.headers.get("If-Range")
    wanted = byte_range(request.headers.get("Range"), blob.size) if if_range in (None, etag) else None
    start, end = wanted or (0, blob.size)
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Type"] = served_content_type(blob.content_type)
    response.headers["Content-Disposition"] = "attachment"
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    response.content_length = end - start
    if request.method == "HEAD":
        await response.prepare(request)
        await response.write_eof()
        return response
    return await send_blob(request, response, await open_blob(services.blobs, sha256, start, end), start, end)


@csrf_exempt
async def delete_blob(request: web.Request) -> web.Response:
    sha256 = blobs.parse_blob_key(request.match_info["sha256"])
    bearer = await sync_caller(request)
    await blobs.delete_blob(request.app[SERVICES], bearer, sha256)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_put(PATH, put_blob, expect_handler=defer_continue)
    app.router.add_get(PATH, get_blob)  # and HEAD
    app.router.add_delete(PATH, delete_blob)
