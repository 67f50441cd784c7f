"""The media library over HTTP: ``/dashboard/media`` (upload form, folders, delete), ``/api/v1/media`` (the
same as JSON, scopes ``media:read`` and ``media:write``) and ``/media/{id}/{filename}`` (the bytes).

Uploads are multipart bodies read as a stream, not through ``request.post()`` (whose app-wide limit is far
below an image's): the declared ``Content-Length`` is compared with the uploader's limit before a byte is
read, and reading stops with 413 past it. The dashboard form is therefore `csrf_exempt` and checks its
token itself: the ``csrf_token`` field must come before the file (browsers send fields in page order).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from mnwd.accounts import require_viewer
from mnwd.errors import BadRequest, Conflict, NotFound, Problem, ValidationFailed
from mnwd.oauth import require_api_user
from mnwd.store import media
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response
from mnwd.web.csrf import CSRF_FIELD, CsrfFailed, csrf_exempt, csrf_valid, from_another_site
from mnwd.web.http import etag_matches, strong_etag
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

NO_SUCH_FILE = "There is no such file in your media library."
MAX_FIELD_BYTES = 4096
SAVED = {"uploaded": "The image was uploaded.", "deleted": "The image was deleted."}


class Upload:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.data = b""
        self.part_filename: str | None = None
        self.has_file = False


async def _read_part(part: BodyPartReader, limit: int, on_overflow: Problem) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise on_overflow
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_upload(request: web.Request, limit: int, *, form: bool) -> Upload:
    """The multipart body's fields and file; with ``form``, the CSRF token must be valid before the file."""
    media.check_declared_size(limit, request.content_length)
    if request.content_type != "multipart/form-data":
        raise BadRequest("Send the image as multipart/form-data with a part named file.")
    try:
        return await _read_parts(request, limit, form=form)
    except ValueError:
        # aiohttp's reader: no boundary, no starting boundary, a body that ends inside a part.
        raise BadRequest("The multipart/form-data body is malformed.") from None


async def _read_parts(request: web.Request, limit: int, *, form: bool) -> Upload:
    upload = Upload()
    token_ok = not form
    reader = await request.multipart()
    field_too_long = BadRequest("A form field is too long.")
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("Nested multipart bodies are not accepted.")
        if part.name == "file":
            if not token_ok:
                raise CsrfFailed()
            upload.part_filename = part.filename
            upload.has_file = True
            upload.data = await _read_part(part, limit, media.too_large(limit))
            continue
        value = (await _read_part(part, MAX_FIELD_BYTES, field_too_long)).decode("utf-8", "replace")
        if part.name == CSRF_FIELD and form:
            if not csrf_valid(request, value):
                raise CsrfFailed()
            token_ok = True
        elif part.name:
            upload.fields[part.name] = value
    if not token_ok:
        raise CsrfFailed()
    return upload


async def _store(request: web.Request, user_id: uuid.UUID, upload: Upload) -> media.MediaFile:
    if not upload.has_file:
        raise ValidationFailed(
            "The file was not uploaded.", errors=[{"field": "file", "message": "Choose an image to upload."}]
        )
    filename = upload.fields.get("filename") or upload.part_filename or ""
    return await media.store_media(
        request.app[SERVICES],
        user_id,
        folder=upload.fields.get("folder", ""),
        filename=filename,
        alt_text=upload.fields.get("alt_text", ""),
        data=upload.data,
    )


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _folder_query(request: web.Request) -> str | None:
    if "folder" not in request.query:
        return None
    return media.check_folder(request.query["folder"])


async def _library_page(
    request: web.Request, user_id: uuid.UUID, *, problem: Problem | None = None, form: dict[str, str] | None = None
) -> web.Response:
    pool = request.app[SERVICES].pool
    try:
        folder = _folder_query(request)
    except ValidationFailed:
        folder = None
    page = _page_number(request)
    files, more = await media.list_library(pool, user_id, folder, page)
    context = {
        "files": files,
        "folders": await media.list_folders(pool, user_id),
        "folder": folder,
        "page": page,
        "more": more,
        "limit": await media.upload_limit(pool, user_id),
        "form": form or {"folder": folder or ""},
        "saved": SAVED.get(request.query.get("saved", "")),
        "error": problem.detail if problem else None,
        "field_errors": {e["field"]: e["message"] for e in problem.extra.get("errors", [])} if problem else {},
    }
    response = await render(request, "store/media.html", context, status=problem.status if problem else 200)
    if problem:
        response.headers.update(problem.headers)
    return response


async def media_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await media.upload_limit(request.app[SERVICES].pool, viewer.user_id)
    return await _library_page(request, viewer.user_id)


@csrf_exempt
async def upload_form(request: web.Request) -> web.Response:
    if from_another_site(request):
        raise CsrfFailed()
    viewer = await require_viewer(request)
    limit = await media.upload_limit(request.app[SERVICES].pool, viewer.user_id)
    upload = await _read_upload(request, limit, form=True)
    try:
        stored = await _store(request, viewer.user_id, upload)
    except (ValidationFailed, media.NotAnImage, Conflict) as problem:
        return await _library_page(request, viewer.user_id, problem=problem, form=upload.fields)
    return redirect(f"/dashboard/media?folder={quote(stored.folder)}&saved=uploaded")


async def _owned(request: web.Request, user_id: uuid.UUID) -> media.MediaFile:
    media_id = uuid_param(request, "media_id", NO_SUCH_FILE)
    found = await media.get_media(request.app[SERVICES].pool, media_id)
    if found is None or found.user_id != user_id:
        raise NotFound(NO_SUCH_FILE)
    return found


async def confirm_delete(request: web.Request) -> web.Response:
    found = await _owned(request, (await require_viewer(request)).user_id)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete an image",
            question=f"Delete {found.path}?",
            consequence="Pages and posts that show it will show a broken image. Its bytes no longer count "
            "against your storage.",
            button="Delete the image",
            cancel=f"/dashboard/media?folder={quote(found.folder)}",
        ),
    )


async def delete_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    found = await _owned(request, viewer.user_id)
    await media.delete_media(request.app[SERVICES], viewer.user_id, found.id)
    return redirect(f"/dashboard/media?folder={quote(found.folder)}&saved=deleted")


async def serve_media(request: web.Request) -> web.StreamResponse:
    media_id = uuid_param(request, "media_id", "There is no such image.")
    opened = await media.open_media(request.app[SERVICES], media_id, request.match_info["filename"])
    if opened is None:
        raise NotFound("There is no such image.")
    found, stream = opened
    etag = strong_etag(found.sha256)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(found.filename)}",
    }
    if etag_matches(request.headers.get("If-None-Match"), etag):
        await stream.aclose()
        return web.Response(status=304, headers=headers)
    response = web.StreamResponse(headers={**headers, "Content-Type": found.content_type})
    response.content_length = stream.length
    await response.prepare(request)
    if request.method == "HEAD":
        await stream.aclose()
        return response
    async with stream:
        async for chunk in stream:
            await response.write(chunk)
    await response.write_eof()
    return response


def _json(found: media.MediaFile) -> dict[str, object]:
    doc = found.as_json()
    doc["created_at"] = rfc3339(found.created_at)
    return doc


async def api_list(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="media:read")
    pool = request.app[SERVICES].pool
    await media.upload_limit(pool, caller.user_id)
    page = _page_number(request)
    files, more = await media.list_library(pool, caller.user_id, _folder_query(request), page)
    return json_response({"files": [_json(f) for f in files], "page": page, "has_more": more})


@csrf_exempt
async def api_upload(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="media:write")
    limit = await media.upload_limit(request.app[SERVICES].pool, caller.user_id)
    upload = await _read_upload(request, limit, form=False)
    stored = await _store(request, caller.user_id, upload)
    return json_response(_json(stored), status=201, headers={"Location": f"/api/v1/media/{stored.id}"})


async def api_get(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="media:read")
    return json_response(_json(await _owned(request, caller.user_id)))


@csrf_exempt
async def api_delete(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="media:write")
    found = await _owned(request, caller.user_id)
    await media.delete_media(request.app[SERVICES], caller.user_id, found.id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/media", media_page)
    app.router.add_post("/dashboard/media", upload_form)
    app.router.add_get("/dashboard/media/{media_id}/delete", confirm_delete)
    app.router.add_post("/dashboard/media/{media_id}/delete", delete_form)
    app.router.add_get("/media/{media_id}/{filename}", serve_media)
    app.router.add_get("/api/v1/media", api_list)
    app.router.add_post("/api/v1/media", api_upload)
    app.router.add_get("/api/v1/media/{media_id}", api_get)
    app.router.add_delete("/api/v1/media/{media_id}", api_delete)
