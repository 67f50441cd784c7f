"""Tauri update checks per second at 50 concurrent clients (each answered 200 with a signed release, from the
in-memory release cache) against a bare aiohttp handler returning a constant JSON body, served the same way in
the same process. The release is created, uploaded, signed and published through the CI API first."""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.fixtures import get_rate, serve
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services
from mnwd.services import Services

CONCURRENCY = 50
UPDATER = {"User-Agent": "tauri-plugin-updater/2.9.0"}
CHECK = "/ota/v1/notes/linux/x86_64/1.0.0?bundle_type=appimage"
CONSTANT = {
    "version": "1.1.0",
    "notes": "Faster sync.",
    "pub_date": "2026-11-25T10:00:00Z",
    "url": "http://127.0.0.1/ota/v1/notes/download/00000000-0000-0000-0000-000000000000",
    "signature": "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZQ==",
}


async def _release(services: Services, base: str) -> None:
    api_key = "mnwd_sk_" + secrets.token_urlsafe(32)
    creator = await services.pool.fetchval(
        "INSERT INTO users (username, email) VALUES ('maker', 'maker@bench.invalid') RETURNING id"
    )
    await services.pool.execute(
        """
        INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix)
        VALUES ($1, 'Notes', 'notes', $2, $3)
        """,
        creator,
        hashlib.sha256(api_key.encode()).digest(),
        api_key[:12],
    )
    auth = {"Authorization": f"Bearer {api_key}"}
    api = f"{base}/ota/v1/notes"
    async with aiohttp.ClientSession(headers=auth, raise_for_status=True) as session:
        await (await session.post(f"{api}/signing-key")).read()
        await (await session.post(f"{api}/releases", json={"version": "1.1.0", "notes": "Faster sync."})).read()
        artifact = f"{api}/releases/1.1.0/artifacts/linux/x86_64?bundle_type=appimage"
        await (await session.put(artifact, data=secrets.token_bytes(256 * 1024))).read()
        await (await session.post(f"{api}/releases/1.1.0/publish")).read()


async def run(options: Options) -> list[Result]:
    logging.getLogger("mnwd.access").setLevel(logging.WARNING)
    requests = options.size(5000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = EmbeddedPostgres(Path(tmp) / "pg", unsafe_fast=options.fast_unsafe)
        url = await cluster.start()
        try:
            config = Config.from_env({}, data_dir=Path(tmp) / "var", database_url=url)
            async with open_all_services(config) as services:
                bare = web.Application()
                bare.router.add_get("/ota/v1/{app}/{target}/{arch}/{current_version}", lambda request: _constant())
                bare_runner, bare_base = await serve(bare)
                mnwd_runner, mnwd_base = await serve(create_app(services))
                try:
                    await _release(services, mnwd_base)
                    measured, baseline = await alternate(
                        options,
                        [
                            lambda: get_rate(mnwd_base + CHECK, requests, concurrency=CONCURRENCY, headers=UPDATER),
                            lambda: get_rate(bare_base + CHECK, requests, concurrency=CONCURRENCY, headers=UPDATER),
                        ],
                    )
                finally:
                    await mnwd_runner.cleanup()
                    await bare_runner.cleanup()
        finally:
            await cluster.stop()
    return [Result("OTA update check, 50 clients", "req/s", measured, "bare aiohttp JSON", baseline, target=0.5)]


async def _constant() -> web.Response:
    return web.json_response(CONSTANT)
