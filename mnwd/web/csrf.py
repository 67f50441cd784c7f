"""CSRF defence for every state-changing request a browser could be tricked into sending.

Every request whose method is not safe is checked, whatever its content type and cookies, unless its
handler is marked `csrf_exempt` (endpoints authenticated by what a browser never attaches by itself: bearer
tokens, API keys, signed webhooks). A cross-site ``<form enctype="text/plain">`` is neither a form content
type nor, top-level with a Lax cookie from a redirect, sure to lack the cookie; and a request with no
cookie at all can still change state (a sign-in link signs *someone* in). A checked request must

- not come from another site: ``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin``
  naming another origin than this site's, is refused before anything else is read;
- carry the CSRF token: the ``X-CSRF-Token`` header, or the ``csrf_token`` form field. The token is an
  HMAC of the browser's cookie token (`mnwd.web.browser`), so it needs no storage and changes when the
  session rotates at sign-in.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from mnwd.errors import Forbidden
from mnwd.web.browser import browser_token, ensure_browser_token, is_new_browser_token
from mnwd.web.client_address import client_scheme
from mnwd.web.keys import SERVICES

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "CsrfFailed",
    "csrf_context",
    "csrf_exempt",
    "csrf_middleware",
    "csrf_token",
    "csrf_valid",
    "from_another_site",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def csrf_exempt(handler: Handler) -> Handler:
    """For endpoints authenticated by something a browser does not send by itself (bearer tokens)."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


class CsrfFailed(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "The form's security token is missing or out of date. Reload the page and try again.",
            slug="csrf-failed",
        )


def csrf_token(request: web.Request) -> str:
    token = ensure_browser_token(request)
    mac = request.app[SERVICES].keyring.mac("csrf", token.encode())
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_valid(request: web.Request, submitted: str | None) -> bool:
    if not submitted or browser_token(request) is None or is_new_browser_token(request):
        return False
    return hmac.compare_digest(submitted.encode(), csrf_token(request).encode())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def from_another_site(request: web.Request) -> bool:
    """What the browser itself says about where the request comes from (both headers are set by it alone)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in SAME_SITE_FETCHES
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return False
    own = {_origin(request.app[SERVICES].config.base_url), f"{client_scheme(request)}://{request.host}".lower()}
    return origin.lower() not in own


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    # A request matching no route (404, 405) runs nothing and gets its own problem rather than csrf-failed.
    if (
        request.method not in SAFE_METHODS
        and match.http_exception is None
        and not getattr(match.handler, "csrf_exempt", False)
    ):
        if from_another_site(request):
            raise CsrfFailed()
        submitted = request.headers.get(CSRF_HEADER)
        if submitted is None and request.content_type in FORM_TYPES:
            value = (await request.post()).get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
        if not csrf_valid(request, submitted):
            raise CsrfFailed()
    return await handler(request)


async def csrf_context(request: web.Request) -> dict[str, Any]:
    """What every page's template knows: ``csrf_token()`` for its forms, and the path it shows."""
    return {"csrf_token": lambda: csrf_token(request), "path": request.path}
