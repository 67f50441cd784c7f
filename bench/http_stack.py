"""Requests per second through mnwd's full HTTP stack (request id, access log, metrics, problem
middleware) on /healthz, against a bare aiohttp handler served the same way in the same process."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services

CONCURRENCY = 20


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/healthz"


async def _load(url: str, requests: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))  # warm-up connections
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return requests / (time.perf_counter() - started)


async def run(options: Options) -> list[Result]:
    logging.getLogger("mnwd.access").setLevel(logging.WARNING)
    requests = options.size(3000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = EmbeddedPostgres(Path(tmp) / "pg", unsafe_fast=options.fast_unsafe)
        url = await cluster.start()
        try:
            config = Config.from_env({}, data_dir=Path(tmp) / "var", database_url=url)
            async with open_all_services(config) as services:
                bare = web.Application()
                bare.router.add_get("/healthz", lambda request: _ok())
                bare_runner, bare_url = await _serve(bare)
                mnwd_runner, mnwd_url = await _serve(create_app(services))
                try:
                    measured, baseline = await alternate(
                        options, [lambda: _load(mnwd_url, requests), lambda: _load(bare_url, requests)]
                    )
                finally:
                    await mnwd_runner.cleanup()
                    await bare_runner.cleanup()
        finally:
            await cluster.stop()
    return [Result("GET /healthz", "req/s", measured, "bare aiohttp", baseline, target=0.7)]


async def _ok() -> web.Response:
    return web.json_response({"status": "ok"})
