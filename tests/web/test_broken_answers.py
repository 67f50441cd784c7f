"""Answers that cannot be finished: an error after the answer started, a client that left mid-body."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mnwd.app import create_app
from mnwd.services import Services
from mnwd.web.body import read_json
from mnwd.web.csrf import csrf_exempt

ClientFactory = Callable[[TestServer], Awaitable[TestClient[Any, web.Application]]]


class DaemonLikeServer(TestServer):
    """As ``mnwd serve`` runs: a handler is not cancelled when its client leaves (aiohttp's default; the
    test server would cancel it)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner[Any]:
        kwargs["handler_cancellation"] = False
        return await super()._make_runner(**kwargs)


class Note(msgspec.Struct):
    title: str


async def stream_then_fail(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    raise RuntimeError("the feed broke mid-stream")


async def read_note(request: web.Request) -> web.Response:
    note = await read_json(request, Note)
    return web.json_response({"title": note.title})


@pytest.fixture
async def app_client(services: Services, aiohttp_client: ClientFactory) -> TestClient[Any, web.Application]:
    app = create_app(services)
    app.router.add_get("/test/stream", stream_then_fail)
    app.router.add_post("/test/note", csrf_exempt(read_note))  # stands for a bearer-token JSON API
    return await aiohttp_client(DaemonLikeServer(app))


async def _raw(client: TestClient[Any, web.Application], request: bytes, *, close_after: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(request)
    await writer.drain()
    if close_after:
        writer.close()
        await writer.wait_closed()
        return b""
    try:
        async with asyncio.timeout(5):
            return await reader.read(-1)
    finally:
        writer.close()


async def _access_lines(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    async with asyncio.timeout(5):
        while True:
            found = [r for r in caplog.records if r.name == "mnwd.access" and getattr(r, "path", None) == path]
            if found:
                return found
            await asyncio.sleep(0.02)


async def test_an_error_after_the_stream_started_ends_the_connection(
    app_client: TestClient[Any, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    """The zombie: a second answer (``HTTP/1.1 500`` and a problem document) written into the body of a
    started event stream, which the client reads as events. Instead the connection ends."""
    caplog.set_level(logging.INFO)
    raw = await _raw(app_client, b"GET /test/stream HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert b"X-Request-Id: " in raw
    assert b"X-Content-Type-Options: nosniff" in raw
    assert b"data: first" in raw
    assert b"HTTP/1.1 500" not in raw
    assert b"internal-error" not in raw
    assert not raw.endswith(b"0\r\n\r\n")  # cut short, not a clean end of the chunked body
    await _access_lines(caplog, "/test/stream")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["error after the answer started; connection closed"]
    assert errors[0].exc_info is not None


async def test_a_client_leaving_mid_body_is_logged_as_499(
    app_client: TestClient[Any, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    head = b"POST /test/note HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    await _raw(app_client, head + b'{"title": "hal', close_after=True)
    [line] = await _access_lines(caplog, "/test/note")
    assert line.status == 499  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
