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

`LocalServer` runs ``mnwd serve`` (it must be installed) on free ports with its embedded PostgreSQL in a
directory of the test's, creates users and apps with the ``mnwd`` command, and signs users in through its
pages (`LocalServer.consent`, an ``open_url`` for `SyncClient.login`)::

    async with LocalServer(tmp_path) as server:
        await server.create_user("alice", "a password long enough", creator=True)
        client_id = await server.create_app("alice", "notes")
        async with SyncClient(server.url, client_id, tmp_path / "a.db") as sk:
            await sk.login(open_url=server.consent("alice", "a password long enough"))
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from html import unescape
from pathlib import Path

import aiohttp
from aiohttp import web

__all__ = ["FlakyProxy", "LocalServer"]

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


class LocalServer:
    def __init__(self, data_dir: str | Path, *, start_seconds: float = 120.0) -> None:
        self.data_dir = Path(data_dir)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_seconds = start_seconds
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MNWD_") and k != "DATABASE_URL"}
        self.env.update(
            {
                "MNWD_DATA_DIR": str(self.data_dir),
                "MNWD_HTTP_PORT": str(self.port),
                "MNWD_SSH_PORT": str(_free_port()),
                "MNWD_LOG_LEVEL": "warning",
                "MNWD_SHUTDOWN_TIMEOUT": "5",
            }
        )
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "serve.log").open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mnwd", "serve", env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        async with aiohttp.ClientSession() as session, asyncio.timeout(self.start_seconds):
            while True:
                if self._process.returncode is not None:
                    raise RuntimeError(f"mnwd serve exited: see {self.data_dir / 'serve.log'}")
                try:
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def mnwd(self, *args: str, stdin: str | None = None) -> str:
        """Run an ``mnwd`` command against this server's database; its output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mnwd",
            *args,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate(stdin.encode() if stdin is not None else None)
        if process.returncode != 0:
            raise RuntimeError(f"mnwd {' '.join(args)} failed: {out.decode()}")
        return out.decode()

    async def create_user(self, username: str, password: str, *, creator: bool = False) -> None:
        args = ["user", "create", "--username", username, "--email", f"{username}@example.org", "--password-stdin"]
        await self.mnwd(*args, *(["--creator"] if creator else []), stdin=password + "\n")

    async def create_app(self, owner: str, slug: str) -> str:
        """A SyncKit app with the loopback redirect the SDK uses; its client id."""
        out = await self.mnwd(
            "app", "create", "--owner", owner, "--name", slug.title(), "--slug", slug,
            "--redirect-uri", "http://127.0.0.1/callback",
        )  # fmt: skip
        found = re.search(r"client_id=(\S+)", out)
        if found is None:
            raise RuntimeError(f"no client_id in: {out}")
        return found.group(1)

    def consent(self, username: str, password: str) -> Callable[[str], Awaitable[None]]:
        """An ``open_url`` for `SyncClient.login`: signs in on the server's pages and allows the app."""

        async def open_url(url: str) -> None:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
                page = await (await browser.get(f"{self.url}/login")).text()
                csrf = CSRF_FIELD.search(page)
                if csrf is None:
                    raise RuntimeError("no sign-in form")
                form = {"login": username, "password": password, "csrf_token": unescape(csrf.group(1))}
                signed_in = await browser.post(f"{self.url}/login", data=form, allow_redirects=False)
                if signed_in.status != 303:
                    raise RuntimeError(f"sign-in refused ({signed_in.status})")
                text = await (await browser.get(url)).text()
                if "decision" in text:
                    fields = {name: unescape(value) for name, value in HIDDEN_FIELD.findall(text)}
                    await browser.post(f"{self.url}/oauth/authorize", data={**fields, "decision": "allow"})

        return open_url
