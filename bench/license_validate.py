"""License validations per second at 50 concurrent clients (``POST /api/v1/licenses/validate`` with a key and
an activated fingerprint, each answered VALID) against a bare aiohttp handler that reads the JSON body and
returns a constant JSON answer, served the same way in the same process. Each client validates its own key,
as apps do (the per-key limit is raised so the run measures validation, not refusals).

Two rows: the hot path (the daemon keeps each key's validation in memory, `mnwd.licensing.validations`, and
counts the rate limits in memory: no query), the target's; and the same calls with nothing kept, so that
each reads PostgreSQL once (one statement: the key, the device's seat, its last sighting), for what a
validation costs the first time or after a change."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.fixtures import serve
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services
from mnwd.keyring import Keyring
from mnwd.licensing.validations import VALIDATIONS
from mnwd.services import Services

CONCURRENCY = 50
PATH = "/api/v1/licenses/validate"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CONSTANT = {"valid": True, "code": "VALID", "detail": "The license is valid.", "license": {"status": "active"}}


def _key(n: int) -> str:
    digits = "".join(ALPHABET[(n // len(ALPHABET) ** i) % len(ALPHABET)] for i in range(20))
    return "-".join(digits[i : i + 5] for i in range(0, 20, 5))


async def _keys(services: Services, count: int) -> list[str]:
    creator = await services.pool.fetchval(
        "INSERT INTO users (username, email) VALUES ('maker', 'maker@bench.invalid') RETURNING id"
    )
    project = await services.pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type) "
        "VALUES ($1, 'tools', 'Tools', 'software') RETURNING id",
        creator,
    )
    item = await services.pool.fetchval(
        "INSERT INTO items (project_id, slug, title, item_type) VALUES ($1, 'app', 'App', 'download') RETURNING id",
        project,
    )
    keyring: Keyring = services.keyring
    keys = [_key(n + 1) for n in range(count)]
    for key in keys:
        key_id: uuid.UUID = await services.pool.fetchval(
            "INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, key_last, max_activations, "
            "activation_count) VALUES ($1, $2, $3, $4, $5, 3, 1) RETURNING id",
            item,
            creator,
            keyring.encrypt("licensing.key", key),
            hashlib.sha256(key.encode()).digest(),
            key[-5:],
        )
        await services.pool.execute(
            "INSERT INTO license_activations (license_key_id, machine_id) VALUES ($1, 'bench-device')", key_id
        )
    return keys


async def post_rate(base: str, bodies: list[dict[str, Any]], requests: int) -> float:
    """POSTs of the bodies (one per client) per second from ``len(bodies)`` clients, after a warm-up pass."""
    connector = aiohttp.TCPConnector(limit=len(bodies))
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = requests

        async def worker(body: dict[str, Any]) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(base + PATH, json=body) as response:
                    assert response.status == 200, response.status
                    answer = await response.json()
                    assert answer["code"] == "VALID", answer

        await asyncio.gather(*(worker(body) for body in bodies))
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(worker(body) for body in bodies))
        return requests / (time.perf_counter() - started)


async def run(options: Options) -> list[Result]:
    logging.getLogger("mnwd.access").setLevel(logging.WARNING)
    requests = options.size(5000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = EmbeddedPostgres(Path(tmp) / "pg", unsafe_fast=options.fast_unsafe)
        url = await cluster.start()
        try:
            env = {"MNWD_LICENSE_RATE_PER_KEY": "100000", "MNWD_LICENSE_RATE_PER_ADDRESS": "1000000"}
            config = Config.from_env(env, data_dir=Path(tmp) / "var", database_url=url)
            async with open_all_services(config) as services:
                bodies = [{"key": key, "fingerprint": "bench-device"} for key in await _keys(services, CONCURRENCY)]
                bare = web.Application()
                bare.router.add_post(PATH, _constant)
                bare_runner, bare_base = await serve(bare)
                mnwd_runner, mnwd_base = await serve(create_app(services))
                cache = services[VALIDATIONS]

                async def cold() -> float:
                    cache.listening(False)  # keeps nothing, as while LISTEN is down
                    try:
                        return await post_rate(mnwd_base, bodies, requests)
                    finally:
                        cache.listening(True)

                try:
                    measured, baseline, uncached = await alternate(
                        options,
                        [
                            lambda: post_rate(mnwd_base, bodies, requests),
                            lambda: post_rate(bare_base, bodies, requests),
                            cold,
                        ],
                    )
                finally:
                    await mnwd_runner.cleanup()
                    await bare_runner.cleanup()
        finally:
            await cluster.stop()
    return [
        Result("license validate, 50 clients", "req/s", measured, "bare aiohttp JSON", baseline, target=0.5),
        Result("license validate, nothing kept", "req/s", uncached, "bare aiohttp JSON", baseline),
    ]


async def _constant(request: web.Request) -> web.Response:
    await request.json()
    return web.json_response(CONSTANT)
