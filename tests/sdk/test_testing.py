"""`mnw_synckit.testing.LocalServer`: what an app's own tests use, `mnwd serve` with its embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from mnw_synckit import SyncClient
from mnw_synckit.testing import LocalServer

pytestmark = pytest.mark.e2e

PASSWORD = "a password long enough"


async def test_an_app_tests_itself_against_a_local_server(tmp_path: Path) -> None:
    async with LocalServer(tmp_path / "server") as server:
        await server.create_user("maker", PASSWORD, creator=True)
        await server.create_user("alice", PASSWORD)
        client_id = await server.create_app("maker", "notes")
        async with (
            SyncClient(server.url, client_id, tmp_path / "a.db", device_name="a") as a,
            SyncClient(server.url, client_id, tmp_path / "b.db", device_name="b") as b,
        ):
            await a.login(open_url=server.consent("alice", PASSWORD), wait_seconds=30)
            await b.login(open_url=server.consent("alice", PASSWORD), wait_seconds=30)
            await a.put("notes", "n", {"text": "hello"})
            await a.sync()
            await b.sync()
            assert await b.get("notes", "n") == {"text": "hello"}
