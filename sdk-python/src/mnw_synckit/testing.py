"""Helpers for testing an app's offline behaviour deterministically against a real mnwd.

`FlakyProxy` sits between a `SyncClient` and the daemon (``SyncClient(proxy.url, …)``) and lets a test:

- go **offline** (``proxy.go_offline()``: open connections, event streams included, are cut and new ones
  refused) and back (``proxy.go_online()``);
- **drop replies**: ``proxy.drop_reply("/sync/v1/push")`` forwards the next push to the server, which applies
  it, and cuts the connection before the answer reaches the client, as a lost network would;
- **hold a reply**: ``proxy.hold_reply("/sync/v1/push")`` forwards it and never answers; ``await
  proxy.held.wait()`` returns once the server has answered, e.g. to kill the client at that very moment;
- **answer in the server's place**: ``proxy.fail_next("/sync/v1/push", 503, retry_after=1)`` answers the next
  request to that path with that status (problem+json, ``Retry-After`` when given) without forwarding it;
- **count** what the client asked for: ``proxy.requests`` is a list of ``(method, path)``.

Server-sent events are passed through as they come; WebSocket upgrades are not proxied.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
from aiohttp import web

__all__ = ["FlakyProxy"]

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})


class FlakyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.offline = False
        self.requests: list[tuple[str, str]] = []
        self.held = asyncio.Event()
        self._drop: Counter[str] = Counter()
        self._hold: set[str] = set()
        self._open: set[asyncio.BaseTransport] = set()
        self._fail: dict[str, list[tuple[int, int | None]]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FlakyProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def go_offline(self) -> None:
        self.offline = True
        for transport in list(self._open):
            transport.abort()  # type: ignore[attr-defined]

    def go_online(self) -> None:
        self.offline = False

    def fail_next(self, path: str, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        self._fail.setdefault(path, []).extend([(status, retry_after)] * times)

    def drop_reply(self, path: str, times: int = 1) -> None:
        self._drop[path] += times

    def hold_reply(self, path: str) -> None:
        self._hold.add(path)

    def count(self, method: str, path: str) -> int:
        return self.requests.count((method, path))

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if self.offline:
            return self._cut(request)
        self.requests.append((request.method, request.path))
        if self._fail.get(request.path):
            status, retry_after = self._fail[request.path].pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            body = {"type": "about:blank", "title": "injected by FlakyProxy", "status": status}
            return web.json_response(body, status=status, headers=headers, content_type="application/problem+json")
        assert self._session is not None
        assert request.transport is not None
        transport = request.transport
        self._open.add(transport)
        try:
            return await self._relay(request)
        finally:
            self._open.discard(transport)

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            if request.path in self._hold:
                await upstream.read()
                self.held.set()
                await asyncio.Event().wait()  # never answers; the client is killed meanwhile
            if self._drop[request.path] > 0:
                self._drop[request.path] -= 1
                await upstream.read()
                return self._cut(request)
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS},
            )
            if upstream.headers.get("Content-Length") is not None and request.method != "HEAD":
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                if self.offline:
                    return self._cut(request)
                await response.write(chunk)
            await response.write_eof()
            return response

    @staticmethod
    def _cut(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
