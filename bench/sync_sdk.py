"""The Python SDK end to end: 10 000 local writes on device A (in transactions of 1 000) until all are in
device B's store (A pushes, B pulls, both through their SQLite stores), in changes/s, against the server-only
work of the same changes: pushing them as pre-encoded 1 000-mutation batches over HTTP and pulling them back in
pages of 1 000, decoded. Each side has a stream (user) of its own; the two run in alternating rounds against one
``mnwd serve`` in a process of its own (as for a real client, whose work does not share the server's CPU)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import aiohttp
import orjson
from mnw_synckit import SyncClient, Tokens

from bench.fixtures import (
    JSON_HEADERS,
    NO_TIMEOUT,
    Device,
    SyncStack,
    free_port,
    mnwd_serve_argv,
    subprocess_server,
    sync_stack,
)
from bench.report import Result
from bench.rounds import Options

CHANGES = 10_000
WRITE_BATCH = 1_000
PUSH_BATCH = 1_000
PULL_LIMIT = 1_000
STAMP = "2025-06-01T12:00:00+00:00"


class MemoryTokens:
    """The minted access token, valid for a day; the benchmark never refreshes."""

    def __init__(self, token: str) -> None:
        self.tokens: Tokens | None = Tokens(token, "unused", time.time() + 86_400)

    def load(self) -> Tokens | None:
        return self.tokens

    def save(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def clear(self) -> None:
        self.tokens = None


def _note(n: int) -> dict[str, object]:
    return {"title": f"note {n}", "body": "x" * 120, "done": n % 2 == 0}


async def _sdk_round(a: SyncClient, b: SyncClient, round_number: int, changes: int) -> float:
    started = time.perf_counter()
    for first in range(0, changes, WRITE_BATCH):
        async with a.tx() as tx:
            for n in range(first, first + WRITE_BATCH):
                tx.put("notes", f"r{round_number}-{n}", _note(n))
    await a.push()
    await b.pull()
    seconds = time.perf_counter() - started
    held = len(await b.query("notes"))
    assert held == changes * (round_number + 1), held
    return seconds


async def _server_round(
    stack: SyncStack, session: aiohttp.ClientSession, a: Device, b: Device, cursor: int, changes: int
) -> tuple[float, int]:
    bodies = [
        a.push_body([("INSERT", str(uuid.uuid4()), _note(n)) for n in range(first, first + PUSH_BATCH)], STAMP)
        for first in range(0, changes, PUSH_BATCH)
    ]
    started = time.perf_counter()
    for body in bodies:
        async with session.post(
            f"{stack.base_url}/sync/v1/push", data=body, headers={**a.headers, **JSON_HEADERS}
        ) as response:
            assert response.status == 200, await response.text()
            await response.read()
    pulled = 0
    while True:
        async with session.get(
            f"{stack.base_url}/sync/v1/pull",
            params={"cursor": str(cursor), "limit": str(PULL_LIMIT)},
            headers=b.headers,
        ) as response:
            page = orjson.loads(await response.read())
        pulled += len(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    seconds = time.perf_counter() - started
    assert pulled == changes, pulled
    return seconds, cursor


async def run(options: Options) -> list[Result]:
    changes = options.size(CHANGES, 2 * WRITE_BATCH)
    async with sync_stack(options, serve_here=False) as stack:
        assert stack.app_id is not None
        sdk_user, raw_user = await stack.create_users(2)
        sdk_a, sdk_b, raw_a, raw_b = await stack.mint_devices([sdk_user, sdk_user, raw_user, raw_user])
        port = free_port()
        env = {
            "DATABASE_URL": stack.db_url,
            "MNWD_HTTP_PORT": str(port),
            "MNWD_SSH_PORT": str(free_port()),  # the git SSH server's: not the default, maybe in use
            "MNWD_DATA_DIR": str(stack.tmp / "serve"),
            "MNWD_LOG_LEVEL": "warning",
            "MNWD_SHUTDOWN_TIMEOUT": "2",
        }
        stack.base_url = f"http://127.0.0.1:{port}"
        async with (
            subprocess_server(mnwd_serve_argv(), env, port, stack.tmp / "serve.log"),
            aiohttp.ClientSession(timeout=NO_TIMEOUT) as session,
        ):
            await stack.register(session, raw_a, "a")
            await stack.register(session, raw_b, "b")
            a, b = (
                SyncClient(
                    stack.base_url,
                    str(stack.app_id),
                    Path(stack.tmp) / f"{name}.db",
                    device_name=name,
                    token_store=MemoryTokens(device.token),
                )
                for name, device in (("a", sdk_a), ("b", sdk_b))
            )
            async with a, b:
                sdk_rates: list[float] = []
                server_rates: list[float] = []
                cursor = 0
                for round_number in range(options.rounds):
                    # Alternate which side goes first, so neither always meets a warmer (or busier) server.
                    if round_number % 2:
                        sdk_rates.append(changes / await _sdk_round(a, b, round_number, changes))
                    elapsed, cursor = await _server_round(stack, session, raw_a, raw_b, cursor, changes)
                    server_rates.append(changes / elapsed)
                    if not round_number % 2:
                        sdk_rates.append(changes / await _sdk_round(a, b, round_number, changes))
    return [
        Result(
            f"SDK: {changes:,} writes on A until in B's store",
            "changes/s",
            sdk_rates,
            "server push+pull only",
            server_rates,
            target=0.5,
        )
    ]


if __name__ == "__main__":
    import asyncio

    from bench.report import print_table
    from bench.rounds import parse

    print_table(asyncio.run(run(parse([])[0])))
