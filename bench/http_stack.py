"""Requests per second through mnwd's full HTTP stack (request id, access log, metrics, problem
middleware) on /healthz, against a bare aiohttp handler served the same way in the same process."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from aiohttp import web

from bench.fixtures import get_rate, serve
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services

CONCURRENCY = 20


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
                bare_runner, bare_url = await serve(bare)
                bare_url += "/healthz"
                mnwd_runner, mnwd_url = await serve(create_app(services))
                mnwd_url += "/healthz"
                try:
                    measured, baseline = await alternate(
                        options,
                        [
                            lambda: get_rate(mnwd_url, requests, concurrency=CONCURRENCY),
                            lambda: get_rate(bare_url, requests, concurrency=CONCURRENCY),
                        ],
                    )
                finally:
                    await mnwd_runner.cleanup()
                    await bare_runner.cleanup()
        finally:
            await cluster.stop()
    return [Result("GET /healthz", "req/s", measured, "bare aiohttp", baseline, target=0.7)]


async def _ok() -> web.Response:
    return web.json_response({"status": "ok"})
