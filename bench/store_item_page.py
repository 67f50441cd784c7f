"""Item pages rendered per second (``GET /@creator/project/item`` by visitors without cookies, through mnwd's
full HTTP stack: the item, its project, owner and current version in one query, its sections, the markdown
body, the template) against a bare aiohttp handler returning the same page as a constant, served the same
way in the same process."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
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
from mnwd.store import creators, items, projects, versions

CONCURRENCY = 20
PATH = "/@bench/field-recordings/dawn-chorus"
PARAGRAPH = (
    "Recorded at first light on the edge of the marsh, this take follows the dawn chorus from the first "
    "robin to the full choir of warblers and wrens. The **stereo pair** sat two metres apart, pointed at the "
    "reed bed; wind noise was low and the nearest road was silent until six. "
)
BODY = "\n\n".join(
    [
        "# Dawn chorus",
        *(PARAGRAPH for _ in range(6)),
        "## Equipment\n\n- two small-diaphragm condensers\n- a field recorder at 96 kHz / 24 bit\n- a windshield",
        "## Licence\n\nFree to use in your own work; a link back is appreciated. See [the notes](https://example.org).",
    ]
)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _seed(services: Services) -> None:
    user_id = await services.pool.fetchval(
        "INSERT INTO users (username, email, display_name, can_create_projects) "
        "VALUES ('bench', 'bench@example.org', 'Bench Sounds', true) RETURNING id"
    )
    creator = await creators.get_creator_by_id(services.pool, user_id)
    assert creator is not None
    project = await projects.create_project(
        services,
        creator,
        {"slug": "field-recordings", "title": "Field recordings", "type": "music", "visibility": "public"},
    )
    item = await items.create_item(
        services.pool,
        project,
        {
            "slug": "dawn-chorus",
            "title": "Dawn chorus at the marsh",
            "type": "download",
            "description": "Forty minutes of birdsong at first light, in stereo.",
            "body": BODY,
            "price_cents": 0,
        },
    )
    data = b"RIFF" + b"\x00" * 4096
    upload = versions.check_version_input("1.0.0", "First release", "dawn-chorus.wav", "audio/wav")
    await versions.store_version(services, creator, item, upload, _one_chunk(data), size=len(data))


async def run(options: Options) -> list[Result]:
    logging.getLogger("mnwd.access").setLevel(logging.WARNING)
    requests = options.size(3000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = EmbeddedPostgres(Path(tmp) / "pg", unsafe_fast=options.fast_unsafe)
        url = await cluster.start()
        try:
            config = Config.from_env({}, data_dir=Path(tmp) / "var", database_url=url)
            async with open_all_services(config) as services:
                await _seed(services)
                mnwd_runner, mnwd_url = await serve(create_app(services))
                mnwd_url += PATH
                async with aiohttp.ClientSession() as session, session.get(mnwd_url) as response:
                    assert response.status == 200, await response.text()
                    page = await response.read()
                bare = web.Application()
                bare.router.add_get(PATH, lambda request: _constant(page))
                bare_runner, bare_url = await serve(bare)
                bare_url += PATH
                try:
                    measured, baseline = await alternate(
                        options,
                        [
                            lambda: get_rate(mnwd_url, requests, concurrency=CONCURRENCY, cookies=False),
                            lambda: get_rate(bare_url, requests, concurrency=CONCURRENCY, cookies=False),
                        ],
                    )
                finally:
                    await mnwd_runner.cleanup()
                    await bare_runner.cleanup()
        finally:
            await cluster.stop()
    return [Result("GET item page", "pages/s", measured, "bare aiohttp, constant page", baseline, target=0.3)]


async def _constant(page: bytes) -> web.Response:
    return web.Response(body=page, content_type="text/html")
