"""A client process killed with SIGKILL loses no write and duplicates none: between a local write and its push,
and between a push reaching the server and its answer reaching the client."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from mnw_synckit.testing import FlakyProxy

from tests.sdk.conftest import MakeDevice, SdkApp, server_rows

pytestmark = pytest.mark.e2e

CHILD = Path(__file__).with_name("crash_client.py")
ROWS = 50


async def run_until(sdk_app: SdkApp, base_url: str, mode: str, ready: asyncio.Event | None = None) -> None:
    """Start the client process, wait until it wrote (and, with ``ready``, until ``ready`` is set), kill it."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        base_url,
        sdk_app.client_id,
        str(sdk_app.tmp / "laptop.db"),
        mode,
        str(ROWS),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"written\n"
        if ready is not None:
            await asyncio.wait_for(ready.wait(), 60)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL


async def test_killed_between_local_write_and_push_loses_nothing(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("laptop")).close()
    await run_until(sdk_app, sdk_app.base_url, "write")
    assert await server_rows(sdk_app.pool, sdk_app.app) == []

    laptop = await make_device("laptop")
    assert laptop.status.pending == ROWS
    await laptop.sync()
    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert [(r["mutation_id"], r["row_id"]) for r in log] == [(n + 1, f"n{n}") for n in range(ROWS)]
    assert laptop.status.pending == 0


async def test_killed_between_push_and_answer_duplicates_nothing(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("laptop")).close()
    async with FlakyProxy(sdk_app.base_url) as proxy:
        proxy.hold_reply("/sync/v1/push")
        await run_until(sdk_app, proxy.url, "push", proxy.held)
    applied = [r["mutation_id"] for r in await server_rows(sdk_app.pool, sdk_app.app)]
    assert applied == list(range(1, ROWS + 1)), "the server applied the batch; the client never heard"

    laptop = await make_device("laptop")
    assert laptop.status.pending == ROWS
    await laptop.push()
    assert laptop.status.pending == 0
    assert laptop.status.cursor == ROWS, "duplicates carry no seq: the push pulls them back"
    await laptop.put("notes", "after", {"n": -1})
    await laptop.sync()
    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert [r["mutation_id"] for r in log] == list(range(1, ROWS + 2)), "each mutation once, the next id after"
    assert {row.row_id for row in await laptop.query("notes")} == {f"n{n}" for n in range(ROWS)} | {"after"}
