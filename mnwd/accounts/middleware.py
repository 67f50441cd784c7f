"""Browser middleware: CSRF on every state-changing form or cookie request, and the session cookie."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from mnwd.accounts.browser import SESSION_COOKIE, csrf_valid, set_cookie_if_new
from mnwd.errors import Forbidden

__all__ = ["cookie_middleware", "csrf_exempt", "csrf_middleware"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


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


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and not getattr(request.match_info.handler, "csrf_exempt", False):
        is_form = request.content_type in FORM_TYPES
        if is_form or SESSION_COOKIE in request.cookies:
            submitted = request.headers.get(CSRF_HEADER)
            if submitted is None and is_form:
                value = (await request.post()).get(CSRF_FIELD)
                submitted = value if isinstance(value, str) else None
            if not csrf_valid(request, submitted):
                raise CsrfFailed()
    return await handler(request)


@web.middleware
async def cookie_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        set_cookie_if_new(request, exc)
        raise
    set_cookie_if_new(request, response)
    return response
