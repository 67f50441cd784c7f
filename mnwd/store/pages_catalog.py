"""Public pages of the catalog: a creator (``/@username``), a project (``/@username/{project}``), an item
(``/@username/{project}/{item}``) and an item's file (``.../{item}/download[?version=]``).

Pages carry Open Graph tags, and answer with an ``ETag`` (of the page sent) and ``Cache-Control`` (public for
visitors not signed in, private to a signed-in browser, whose page shows its own name and form tokens), so a
second view is a ``304``. Private projects and items are "not found" to everyone but their owner.

Files: free items are downloadable by anyone who sees them, paid ones only by their owner until purchases
exist (`PurchaseRequired`). A download honours ``Range``/``If-Range`` and ``If-None-Match`` (the ETag is the
file's SHA-256) and counts one download when it serves the file from its first byte.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from mnwd.accounts import get_viewer
from mnwd.blobs import BlobNotFound
from mnwd.errors import NotFound
from mnwd.store import creators, item_parts, items, page_extras, projects, versions
from mnwd.store.fields import PurchaseRequired
from mnwd.store.grants import may_download
from mnwd.web.http import byte_range, close_blob, etag_matches, open_blob, send_blob, strong_etag
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render
from mnwd.web.uploads import served_content_type

__all__ = ["ITEM_PAGES", "RenderedPages", "cached_page", "changes_catalog", "setup"]

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,38}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
PUBLIC_CACHE = "public, max-age=60"
PRIVATE_CACHE = "private, no-cache"
FILE_CACHE = "private, max-age=0, must-revalidate"
RENDERED_PAGES = 1024
RENDERED_PAGE_SECONDS = 30.0
UNCHECKED_SECONDS = 1.0
_DISPOSITION_SAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


def _path(request: web.Request, *names: str) -> list[str]:
    """The path's parts, checked against their patterns before they reach a query (else not found)."""
    values = []
    for name in names:
        value = request.match_info[name]
        pattern = USERNAME if name == "username" else SLUG
        if not pattern.fullmatch(value):
            raise NotFound("There is nothing at this address.")
        values.append(value)
    return values


async def cached_page(request: web.Request, template: str, context: dict[str, Any], *, signed_in: bool) -> web.Response:
    """The page, or ``304`` when the browser already has exactly it."""
    context.setdefault("site", request.app[SERVICES].config.base_url.rstrip("/"))
    response = await render(request, template, context)
    assert isinstance(response.body, bytes)
    etag = f'W/"{hashlib.sha256(response.body).hexdigest()[:32]}"'
    cache = PRIVATE_CACHE if signed_in else PUBLIC_CACHE
    if etag_matches(request.headers.get("If-None-Match"), etag.removeprefix("W/")):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": cache, "Vary": "Cookie"})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache
    response.headers["Vary"] = "Cookie"
    return response


async def profile_page(request: web.Request) -> web.Response:
    (username,) = _path(request, "username")
    pool = request.app[SERVICES].pool
    creator = await creators.get_creator(pool, username)
    if creator is None:
        raise NotFound("There is no such creator.")
    viewer = await get_viewer(request)
    owner = viewer is not None and viewer.user_id == creator.id
    context = {
        "creator": creator,
        "links": await creators.list_links(pool, creator.id),
        "projects": await projects.list_projects(pool, creator.id, include_private=owner),
        "owner": owner,
        **await page_extras.profile_extras(pool, creator.id, None if viewer is None else viewer.user_id),
    }
    return await cached_page(request, "store/profile.html", context, signed_in=viewer is not None)


async def project_page(request: web.Request) -> web.Response:
    username, slug = _path(request, "username", "project")
    pool = request.app[SERVICES].pool
    viewer = await get_viewer(request)
    viewer_id = None if viewer is None else viewer.user_id
    creator = await creators.get_creator(pool, username)
    if creator is None:
        raise NotFound("There is no such project.")
    project = await projects.get_visible_project(pool, username, slug, viewer_id)
    owner = project.user_id == viewer_id
    context = {
        "creator": creator,
        "project": project,
        "items": await items.list_items(pool, project, include_private=owner),
        "owner": owner,
        **await page_extras.project_extras(pool, project.id, creator.id, viewer_id),
    }
    return await cached_page(request, "store/project.html", context, signed_in=viewer is not None)


class RenderedPages:
    """Item pages as rendered for visitors who are not signed in (the page is then the same for all of them),
    by host and path, each with the revision of the item it shows, for at most `RENDERED_PAGE_SECONDS`.

    A kept page is served without a query for `UNCHECKED_SECONDS` after its revision was last read; after that
    the item is read again and the page kept only while its revision is unchanged. A change made through this
    daemon's catalog handlers forgets every kept page at once (`forget_all`); one made through another daemon
    shows within `UNCHECKED_SECONDS`; what other parts add to the page (tags, labels) within
    `RENDERED_PAGE_SECONDS`, shorter than the minute browsers may keep the page anyway. A bundle's page lists
    other items, whose changes its revision does not follow: it is never kept."""

    def __init__(self, size: int = RENDERED_PAGES) -> None:
        # path → [revision, rendered at, revision last read at, response]
        self._pages: OrderedDict[str, list[Any]] = OrderedDict()
        self._size = size

    def fresh(self, path: str) -> web.Response | None:
        """The kept page if its revision was read less than `UNCHECKED_SECONDS` ago."""
        found = self._pages.get(path)
        if found is None or time.monotonic() - found[2] > UNCHECKED_SECONDS:
            return None
        response: web.Response = found[3]
        return response

    def get(self, path: str, revision: str) -> web.Response | None:
        found = self._pages.get(path)
        now = time.monotonic()
        if found is None or found[0] != revision or now - found[1] > RENDERED_PAGE_SECONDS:
            return None
        found[2] = now
        self._pages.move_to_end(path)
        response: web.Response = found[3]
        return response

    def put(self, path: str, revision: str, response: web.Response) -> None:
        now = time.monotonic()
        self._pages[path] = [revision, now, now, response]
        self._pages.move_to_end(path)
        while len(self._pages) > self._size:
            self._pages.popitem(last=False)

    def forget_all(self) -> None:
        self._pages.clear()


ITEM_PAGES = web.AppKey("store.item_pages", RenderedPages)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def changes_catalog(handler: Handler) -> Handler:
    """Marks a handler that changes what item pages show: kept pages are forgotten once it has run."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            request.app[ITEM_PAGES].forget_all()

    return run


def _copy(response: web.Response) -> web.Response:
    assert isinstance(response.body, bytes)
    return web.Response(body=response.body, status=response.status, headers=response.headers)


def _kept_answer(request: web.Request, kept: web.Response) -> web.Response:
    if etag_matches(request.headers.get("If-None-Match"), kept.headers["ETag"].removeprefix("W/")):
        return web.Response(status=304, headers={k: kept.headers[k] for k in ("ETag", "Cache-Control", "Vary")})
    return _copy(kept)


async def item_page(request: web.Request) -> web.Response:
    username, project_slug, item_slug = _path(request, "username", "project", "item")
    pool = request.app[SERVICES].pool
    viewer = await get_viewer(request)
    # By host too: a creator's custom domain serves this path with the main site's absolute links.
    kept_as = request.host.lower() + request.path
    if viewer is None and (kept := request.app[ITEM_PAGES].fresh(kept_as)) is not None:
        return _kept_answer(request, kept)
    viewer_id = None if viewer is None else viewer.user_id
    page = await items.find_item_page(pool, username, project_slug, item_slug, viewer_id)
    item = page.item
    keep = viewer is None and item.item_type != "bundle"
    if keep and (kept := request.app[ITEM_PAGES].get(kept_as, page.revision)) is not None:
        return _kept_answer(request, kept)
    owner = item.user_id == viewer_id
    context: dict[str, Any] = {
        "page": page,
        "item": item,
        "owner": owner,
        "body_html": items.rendered_body(item.body) if item.body else None,
        "can_download": await may_download(request, item, viewer_id),
        "chapters": [],
        "sections": [],
        "bundle": [],
        **await page_extras.item_extras(pool, item.id, item.project_id, item.user_id, viewer_id),
    }
    if item.item_type in {"audio", "video"}:
        context["chapters"] = await item_parts.list_chapters(pool, item)
    if item.item_type == "bundle":
        context["bundle"] = await item_parts.list_bundle_items(pool, item, include_private=owner)
    context["sections"] = await item_parts.list_sections(pool, item)
    context["versions"] = await versions.list_versions(pool, item) if page.current else []
    response = await cached_page(request, "store/item.html", context, signed_in=viewer is not None)
    if keep and response.status == 200:
        request.app[ITEM_PAGES].put(kept_as, page.revision, _copy(response))
    return response


def _disposition(name: str) -> str:
    ascii_name = _DISPOSITION_SAFE.sub("_", name) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    """GET, and HEAD with the same headers and no body."""
    username, project_slug, item_slug = _path(request, "username", "project", "item")
    services = request.app[SERVICES]
    viewer = await get_viewer(request)
    viewer_id = None if viewer is None else viewer.user_id
    item = (await items.find_item_page(services.pool, username, project_slug, item_slug, viewer_id)).item
    if not await may_download(request, item, viewer_id):
        raise PurchaseRequired(item.pwyw_min_cents or item.price_cents)
    version = await versions.find_download(services.pool, item, request.query.get("version"))
    etag = strong_etag(version.sha256)
    headers = {"ETag": etag, "Cache-Control": FILE_CACHE}
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    size = version.file_size_bytes
    if_range = request.headers.get("If-Range")
    wanted = byte_range(request.headers.get("Range"), size) if if_range in (None, etag) else None
    start, end = wanted or (0, size)
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Type"] = served_content_type(version.content_type)
    response.headers["Content-Disposition"] = _disposition(version.file_name or f"{item.slug}-{version.version_number}")
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response.content_length = end - start
    if request.method == "HEAD":
        await response.prepare(request)
        await response.write_eof()
        return response
    try:
        source = await open_blob(services.blobs, version.sha256, start, end)
    except BlobNotFound:
        log.error("a version's stored bytes are missing", extra={"sha256": version.sha256})
        raise NotFound("This file is missing; the creator has been told to upload it again.") from None
    if start == 0:
        try:
            await versions.count_download(services.pool, version)
        except BaseException:
            await close_blob(source)
            raise
    return await send_blob(request, response, source, start, end)


def setup(app: web.Application) -> None:
    app[ITEM_PAGES] = RenderedPages()
    app.router.add_get("/@{username}", profile_page)
    app.router.add_get("/@{username}/{project}", project_page)
    app.router.add_get("/@{username}/{project}/{item}", item_page)
    app.router.add_get("/@{username}/{project}/{item}/download", download)
