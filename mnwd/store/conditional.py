"""Conditional page answers for the store's public pages: an ``ETag`` of the rendered bytes, and ``304 Not
Modified`` when the browser already holds them (``If-None-Match``), so a visitor's second view costs no body.

The tag is taken from the page as rendered, so anything that shows on it (an edit, the signed-in viewer's
name, their form tokens) changes it; ``Vary: Cookie`` keeps shared caches from mixing viewers.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from mnwd.web.http import etag_matches, strong_etag

__all__ = ["PRIVATE", "PUBLIC", "conditional"]

# Public pages: caches keep them but ask each time whether they changed.
PUBLIC = "public, no-cache"
# What only its owner may see (drafts, private lists): never kept by a shared cache.
PRIVATE = "private, no-cache"


def conditional(request: web.Request, response: web.Response, cache_control: str = PUBLIC) -> web.Response:
    body = response.body
    assert isinstance(body, bytes)
    etag = strong_etag(hashlib.sha256(body).hexdigest()[:32])
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Cookie"}
    if response.status == 200 and etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response
