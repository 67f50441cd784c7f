"""Request id, access log and metrics; security headers on every answer; and the one place errors become
problem+json (a lost database becomes 503, a client that left is logged as 499, and nothing is written into
an answer that has already started). Under ``mnwd serve`` it also tells the connection guard
(`mnwd.web.connections`) when a request starts, and answers ``Connection: close`` while the daemon drains."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from types import TracebackType

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from mnwd.errors import PROBLEM_TYPES, Problem, problem_type_uri
from mnwd.logs import mask_secrets, request_id_var
from mnwd.web.body import json_response
from mnwd.web.client_address import client_address
from mnwd.web.connections import CONNECTIONS
from mnwd.web.keys import SERVICES
from mnwd.web.pages import TEMPLATES, render_error_page, wants_html

__all__ = [
    "DB_OUTAGE",
    "PAGE_POLICY",
    "DatabaseOutage",
    "page_policy",
    "problem_middleware",
    "problem_response",
    "request_middleware",
    "security_headers",
]

access_log = logging.getLogger("mnwd.access")
error_log = logging.getLogger("mnwd.web")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PROBLEM_JSON = "application/problem+json"
SECRET_PARAMETERS = ("token", "code", "access_token", "refresh_token", "client_secret", "password", "grant")
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
    """The path and query with secrets masked: secret route parameters and query values (login link tokens,
    codes), and anything token-like, matched route or not (`mask_secrets`)."""
    path = request.path
    for name in SECRET_PARAMETERS:
        value = request.match_info.get(name)
        if value:
            path = path.replace(value, "***")
    query = "&".join(
        f"{name}={'***' if name in SECRET_PARAMETERS else value}" for name, value in request.rel_url.query.items()
    )
    return mask_secrets(f"{path}?{query}" if query else path)


def page_policy(form_action: str = "'self'") -> str:
    """The Content-Security-Policy of HTML pages: no inline script or style (templates load /static files
    only). Browsers apply ``form-action`` to a form's redirects too: a page whose form answers with a
    redirect to another site (OAuth consent) sets ``page_policy(f"'self' {origin}")`` on its response."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        f"base-uri 'none'; form-action {form_action}; frame-ancestors 'none'"
    )


PAGE_POLICY = page_policy()
# JSON, files and the rest: nothing to load, nothing may frame it.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Set on the request when its answer starts (headers sent): from then on an error cannot become an answer.
_STARTED: web.RequestKey[web.StreamResponse] = web.RequestKey("mnwd_started_response", web.StreamResponse)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer (pages, API, errors, files, streams) gets the headers just
    before they are sent. A handler that set its own Content-Security-Policy keeps it."""
    request[_STARTED] = response
    headers = response.headers
    request_id = request_id_var.get()
    if request_id is not None:  # a stream the handler starts itself, before request_middleware sees it
        headers.setdefault("X-Request-Id", request_id)
    for name, value in _SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    is_page = (response.content_type or "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", PAGE_POLICY if is_page else OTHER_POLICY)
    services = request.app.get(SERVICES)
    if services is not None and services.config.base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)


def _new_request_id() -> str:
    """32 hex digits, unique in practice; not a secret, so no system call for randomness (uuid4's ``urandom``
    was a measurable part of a small request)."""
    return f"{random.getrandbits(128):032x}"


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else _new_request_id()
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    connections = request.app.get(CONNECTIONS)
    if connections is not None:
        connections.request_started(request)
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        if connections is not None and connections.draining:
            response.force_close()
        return response
    except web.HTTPException as exc:
        # A redirect raised by a handler (`login_redirect`) passes problem_middleware untouched and is
        # answered by aiohttp itself: record its own status, and give it the id like any answer.
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[SERVICES].metrics.request_answered(route, request.method, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
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
                    "remote": client_address(request),
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


# The database is gone or refusing connections: the request may work again in a moment.
_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError and the 08xxx class
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)
RETRY_AFTER_SECONDS = 5


def _reaches_the_database(tb: TracebackType | None) -> bool:
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(("asyncpg", "mnwd.db")):
            return True
        tb = tb.tb_next
    return False


def _database_down(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (not that a statement was wrong)."""
    if isinstance(exc, _DATABASE_DOWN):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # Also raised for a bad call (wrong argument count): only a closed connection or pool is an outage.
        return any(word in str(exc) for word in ("closed", "connection"))
    # A refused or vanished socket (ConnectionRefusedError, FileNotFoundError on the Unix socket) or a
    # connect timeout, met inside the pool.
    return isinstance(exc, OSError | TimeoutError) and _reaches_the_database(exc.__traceback__)


class DatabaseOutage:
    """Logs a database outage once, not once per request: the first error (with its cause), then, once no
    error came for ``quiet`` seconds, one summary line with how many requests were answered 503. An outage
    that goes on is reminded of every ``remind`` seconds."""

    def __init__(self, quiet: float = 10.0, remind: float = 300.0) -> None:
        self.quiet = quiet
        self.remind = remind
        self.count = 0
        self.started = 0.0
        self.last = 0.0
        self.logged = 0.0

    @property
    def ongoing(self) -> bool:
        return self.count > 0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if not self.ongoing:
            self.count, self.started, self.logged = 0, now, now
            error_log.error(
                "database unavailable (%s: %s): answering 503 until it is back; further errors are counted",
                type(exc).__name__,
                exc,
                extra={"error": type(exc).__name__},
            )
            asyncio.get_running_loop().call_later(self.quiet, self._check_over)
        elif now - self.logged >= self.remind:
            self.logged = now
            error_log.error(
                "database still unavailable after %.0f s: %d requests answered 503",
                now - self.started,
                self.count + 1,
            )
        self.count += 1
        self.last = now

    def _check_over(self) -> None:
        now = time.monotonic()
        if now - self.last < self.quiet:
            asyncio.get_running_loop().call_later(self.quiet - (now - self.last), self._check_over)
            return
        error_log.warning(
            "database errors stopped: %d requests answered 503 over %.1f s",
            self.count,
            self.last - self.started,
            extra={"answered_503": self.count},
        )
        self.count = 0


DB_OUTAGE = web.AppKey("mnwd_db_outage", DatabaseOutage)


async def _database_unavailable(request: web.Request, exc: BaseException) -> web.Response:
    outage = request.app.get(DB_OUTAGE)
    if outage is not None:
        outage.failed(exc)
    detail = "The database cannot be reached right now. Try again in a few seconds."
    doc = _problem_doc("unavailable", 503, detail, request.path, retry_after=RETRY_AFTER_SECONDS)
    return await _answer(request, doc, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _client_gone(request: web.Request, exc: BaseException) -> bool:
    transport = request.transport
    return isinstance(exc, ConnectionError) and (transport is None or transport.is_closing())


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        started = request.get(_STARTED)
        if started is not None:
            return _end_started(request, started, exc)
        if _client_gone(request, exc):
            # Left mid-body or before the answer: nobody to answer, and not a server error.
            return web.Response(status=CLIENT_CLOSED_REQUEST)
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise
        return await _problem_answer(request, exc)


def _end_started(request: web.Request, started: web.StreamResponse, exc: Exception) -> web.StreamResponse:
    """The answer's headers (and perhaps part of its body) are out: a second answer would land inside the
    body. Log the error and drop the connection, so the client sees the answer cut short."""
    if not _client_gone(request, exc):
        error_log.error(
            "error after the answer started; connection closed",
            exc_info=exc,
            extra={"method": request.method, "path": _loggable_path(request)},
        )
    if request.transport is not None:
        request.transport.close()
    return started


async def _problem_answer(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, Problem):
        return await _answer(request, exc.body(request.path), exc.headers or None)
    if isinstance(exc, web.HTTPException):
        return await _from_http_exception(request, exc)
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError):
        # Wherever a NUL came in (a name, a JSON string), PostgreSQL refused the statement: the client's fault.
        detail = "A field holds a NUL character (\\u0000), which cannot be stored. Nothing was written."
        return await _answer(request, _problem_doc("nul-character", 400, detail, request.path))
    if _database_down(exc):
        return await _database_unavailable(request, exc)
    error_log.error("unhandled error", exc_info=exc, extra={"method": request.method, "path": _loggable_path(request)})
    request_id = request_id_var.get()
    detail = f"Something went wrong on our side. Quote request id {request_id} when reporting it."
    return await _answer(request, _problem_doc("internal-error", 500, detail, request.path, request_id=request_id))
