"""Smart-HTTP clone of public repos (`mnwd.git.smart_http`): ``GET /source/{owner}/{repo}/info/refs`` and
``POST /source/{owner}/{repo}/git-upload-pack``, also without the ``/source`` prefix (``{repo}`` with or
without ``.git``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web, web_protocol

from mnwd.errors import BadRequest
from mnwd.git import smart_http
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES

__all__ = ["setup"]

NO_CACHE = {"Cache-Control": "no-cache, max-age=0, must-revalidate", "Expires": "Fri, 01 Jan 1980 00:00:00 GMT"}


async def info_refs(request: web.Request) -> web.Response:
    smart_http.check_service(request.query.get("service"))
    path = await smart_http.public_repo_path(
        request.app[SERVICES], request.match_info["owner"], request.match_info["repo"]
    )
    body = await smart_http.advertisement(path, request.headers.get("Git-Protocol"))
    return web.Response(body=body, content_type="application/x-git-upload-pack-advertisement", headers=NO_CACHE)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The body as it arrives (aiohttp inflates a gzip body; one that does not inflate is a 400)."""
    try:
        async for chunk in request.content.iter_any():
            yield chunk
    except web_protocol.RequestPayloadError:
        raise BadRequest("The request body does not decode (Content-Encoding).") from None


@csrf_exempt
async def upload_pack(request: web.Request) -> web.StreamResponse:
    path = await smart_http.public_repo_path(
        request.app[SERVICES], request.match_info["owner"], request.match_info["repo"]
    )
    if request.content_type != "application/x-git-upload-pack-request":
        raise BadRequest("Send a git upload-pack request (Content-Type: application/x-git-upload-pack-request).")
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding not in {"", "identity", "gzip", "x-gzip"}:
        raise BadRequest(f"Content-Encoding {encoding} is not supported (gzip is).")
    response = web.StreamResponse(headers=NO_CACHE)
    response.content_type = "application/x-git-upload-pack-result"

    async def write(data: bytes) -> None:
        if not response.prepared:
            await response.prepare(request)
        await response.write(data)

    await smart_http.upload_pack(path, request.headers.get("Git-Protocol"), _body(request), write=write)
    if not response.prepared:
        await response.prepare(request)
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    # Without the prefix only names that can be a user's and a repo's (never the store's /@username pages).
    for prefix in ("/source/{owner}/{repo}", "/{owner:[A-Za-z0-9_-]+}/{repo:[A-Za-z0-9_-][A-Za-z0-9._-]*}"):
        app.router.add_get(prefix + "/info/refs", info_refs)
        app.router.add_post(prefix + "/git-upload-pack", upload_pack)
