"""Request id, access log and metrics; and the one place errors become problem+json."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from mnwd.errors import PROBLEM_TYPES, Problem, problem_type_uri
from mnwd.logs import request_id_var
from mnwd.web.body import json_response
from mnwd.web.keys import SERVICES
from mnwd.web.pages import TEMPLATES, render_error_page, wants_html

__all__ = ["problem_middleware", "problem_response", "request_middleware"]

access_log = logging.getLogger("mnwd.access")
error_log = logging.getLogger("mnwd.web")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PROBLEM_JSON = "application/problem+json"
SECRET_PARAMETERS = ("token", "code")
# What nginx logs when the client went away before the answer: not a server error.
CLIENT_CLOSED_REQUEST = 499

# aiohttp's own HTTP exceptions mapped to our slugs; others fall back to the status.
_SLUG_BY_STATUS: dict[int, str] = {}
for _slug, (_status, _title) in PROBLEM_TYPES.items():
    # The catalog lists the generic slug of a status first.
    if _slug != "http-error":
        _SLUG_BY_STATUS.setdefault(_status, _slug)


def _route_name(request: web.Request) -> str:
    match_info = request.match_info
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or getattr(match_info, "http_exception", None) is not None:
        return "unmatched"
    return str(resource.canonical)


def _loggable_path(request: web.Request) -> str:
    """The path with secret route parameters (login link tokens and the like) masked."""
    path = request.path
    for name in SECRET_PARAMETERS:
        value = request.match_info.get(name)
        if value:
            path = path.replace(value, "***")
    return path


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    except asyncio.CancelledError:
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        metrics = request.app[SERVICES].metrics
        metrics.http_requests.labels(route, request.method, str(status)).inc()
        metrics.http_latency.labels(route).observe(elapsed)
        path = _loggable_path(request)
        access_log.info(
            "%s %s %d",
            request.method,
            path,
            status,
            extra={
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "remote": request.remote,
            },
        )
        request_id_var.reset(token)


def problem_response(doc: dict[str, object], headers: dict[str, str] | None = None) -> web.Response:
    status = doc["status"]
    assert isinstance(status, int)
    return json_response(doc, status=status, content_type=PROBLEM_JSON, headers=headers)


def _problem_doc(slug: str, status: int, detail: str, instance: str, **extra: object) -> dict[str, object]:
    title = PROBLEM_TYPES[slug][1]
    doc: dict[str, object] = {"type": problem_type_uri(slug), "title": title, "status": status, "detail": detail}
    doc["instance"] = instance
    doc.update(extra)
    return doc


_DEFAULT_DETAIL = {
    404: "There is nothing at this address.",
    413: "The request body is larger than this server accepts.",
}
_KEPT_HEADERS = {"allow", "retry-after", "www-authenticate"}
_MAX_SIZE = re.compile(r"Maximum request body size (\d+)")


async def _answer(request: web.Request, doc: dict[str, object], headers: dict[str, str] | None = None) -> web.Response:
    if wants_html(request) and TEMPLATES in request.app:
        return await render_error_page(request, doc, headers)
    return problem_response(doc, headers)


async def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    instance = request.path
    slug = _SLUG_BY_STATUS.get(exc.status, "http-error")
    own_text = exc.text if exc.content_type == "text/plain" and exc.text != f"{exc.status}: {exc.reason}" else None
    detail = own_text or _DEFAULT_DETAIL.get(exc.status, exc.reason)
    extra: dict[str, object] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        detail = f"{exc.method} is not allowed here; use {', '.join(sorted(exc.allowed_methods))}."
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        detail = _DEFAULT_DETAIL[413]
        match = _MAX_SIZE.search(exc.text or "")
        if match:
            extra["limit"] = int(match.group(1))
    doc = _problem_doc(slug, exc.status, detail, instance, **extra)
    if slug == "http-error":
        doc["title"] = exc.reason
    headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
    return await _answer(request, doc, headers)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return await _answer(request, problem.body(request.path), problem.headers or None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return await _from_http_exception(request, exc)
    except (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        # Wherever a NUL came in (a name, a JSON string), PostgreSQL refused the statement: the client's fault.
        detail = "A field holds a NUL character (\\u0000), which cannot be stored. Nothing was written."
        return await _answer(request, _problem_doc("nul-character", 400, detail, request.path))
    except Exception:
        error_log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        request_id = request_id_var.get()
        detail = f"Something went wrong on our side. Quote request id {request_id} when reporting it."
        return await _answer(request, _problem_doc("internal-error", 500, detail, request.path, request_id=request_id))
