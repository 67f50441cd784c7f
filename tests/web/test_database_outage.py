"""A database outage, on a PostgreSQL of this test's own (stopped and started again; the session's shared
cluster is never touched): 503 problem+json with Retry-After, one log line for the outage, not a 500 and a
traceback per request; then 200 again once the database is back."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.app import create_app
from mnwd.config import Config
from mnwd.db.embedded import EmbeddedPostgres
from mnwd.domains import open_all_services
from mnwd.web.middleware import DB_OUTAGE
from tests.support.db import MIGRATIONS_DIR

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, web.Application]]]
# A bearer token nobody holds: the API looks it up in the database (401 when the database answers).
API = ("/sync/v1/pull", {"Authorization": "Bearer mnwd_at_" + "x" * 43, "Accept": "application/json"})


@pytest.fixture
async def own_cluster() -> AsyncIterator[EmbeddedPostgres]:
    # Not under pytest's temp dirs: another pytest run may make those unreadable to the postgres user, and
    # this cluster is started twice.
    root = Path(tempfile.mkdtemp(prefix="mnwd-outage-pg-"))
    cluster = EmbeddedPostgres(root / "data", database="mnwd", unsafe_fast=True)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _statuses(client: TestClient[Any, web.Application]) -> tuple[int, int, dict[str, Any]]:
    api = await client.get(API[0], headers=API[1])
    ready = await client.get("/readyz")
    return api.status, ready.status, {"api": api, "ready": ready}


async def test_a_lost_database_answers_503_and_logs_once(
    own_cluster: EmbeddedPostgres,
    tmp_path: Path,
    aiohttp_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = Config.from_env(
        {"MNWD_DB_POOL_MIN": "1"},
        data_dir=tmp_path / "var",
        database_url=own_cluster.url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )
    async with open_all_services(config) as services:
        app = create_app(services)
        app[DB_OUTAGE].quiet = 0.3
        client = await aiohttp_client(app)
        assert (await _statuses(client))[:2] == (401, 200)

        caplog.clear()
        caplog.set_level(logging.INFO)
        await own_cluster.stop()
        for _ in range(5):
            api_status, ready_status, answers = await _statuses(client)
            assert (api_status, ready_status) == (503, 503)
            for response in answers.values():
                assert response.content_type == "application/problem+json"
                assert int(response.headers["Retry-After"]) > 0
                doc = await response.json()
                assert doc["type"] == "https://mnwd.dev/problems/unavailable"
            assert (await answers["ready"].json())["database"] == "down"
        web_lines = [r for r in caplog.records if r.name == "mnwd.web"]
        assert [r.getMessage().split(" (")[0] for r in web_lines] == ["database unavailable"]
        assert not any(r.exc_info for r in caplog.records if r.name.startswith("mnwd") and r.name != "mnwd.db.listen")

        await own_cluster.start()
        async with asyncio.timeout(30):
            while (await _statuses(client))[:2] != (401, 200):  # noqa: ASYNC110 (polling the server)
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        summary = [r.getMessage() for r in caplog.records if r.name == "mnwd.web"][1:]
        assert len(summary) == 1
        assert re.match(r"database errors stopped: \d+ requests answered 503", summary[0])
