"""Live sync: pokes over SSE and WebSocket, the poke rule (apply when ``after`` is the cursor, else pull), local
writes pushed as they come, reconnection after a lost network."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest
from mnw_synckit import Row, SyncClient
from mnw_synckit.testing import FlakyProxy

from tests.sdk.conftest import MakeDevice, SdkApp

pytestmark = pytest.mark.e2e

TIMEOUT = 15.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 - polls the client status, which has no event
            await asyncio.sleep(0.02)


async def next_rows(rows: AsyncIterator[list[Row]]) -> list[Row]:
    return await asyncio.wait_for(anext(rows), TIMEOUT)


@pytest.fixture
async def proxied_phone(make_device: MakeDevice, sdk_app: SdkApp) -> AsyncIterator[tuple[SyncClient, FlakyProxy]]:
    await (await make_device("phone")).close()  # signed in; the proxied client reuses its store and tokens
    async with FlakyProxy(sdk_app.base_url) as proxy:
        phone = await make_device("phone", base_url=proxy.url)
        yield phone, proxy
        await phone.close()


async def test_a_poke_with_changes_is_applied_without_a_pull(
    make_device: MakeDevice, proxied_phone: tuple[SyncClient, FlakyProxy]
) -> None:
    laptop = await make_device("laptop")
    phone, proxy = proxied_phone
    rows = phone.watch("notes")
    assert await next_rows(rows) == []
    phone.start_live()
    await until(lambda: phone.status.connected)

    pulls = proxy.count("GET", "/sync/v1/pull")
    await laptop.put("notes", "n1", {"title": "from the laptop"})
    await laptop.push()
    assert await next_rows(rows) == [Row("n1", {"title": "from the laptop"})]
    await laptop.put("notes", "n2", {"title": "again"})
    await laptop.push()
    assert [r.row_id for r in await next_rows(rows)] == ["n1", "n2"]
    assert proxy.count("GET", "/sync/v1/pull") == pulls, "small pokes carry their changes: no pull"

    big = {"body": "x" * 5000}  # too large to ride in a poke
    await laptop.put("notes", "big", big)
    await laptop.push()
    assert [r.row_id for r in await next_rows(rows)] == ["big", "n1", "n2"]
    assert proxy.count("GET", "/sync/v1/pull") == pulls + 1
    await laptop.pull()
    assert phone.status.cursor == laptop.status.cursor


async def test_a_poke_after_another_cursor_is_pulled(
    make_device: MakeDevice, proxied_phone: tuple[SyncClient, FlakyProxy]
) -> None:
    laptop = await make_device("laptop")
    phone, proxy = proxied_phone
    await laptop.put("notes", "before", {"v": 0})
    await laptop.push()

    phone.start_live()  # `ready` is newer than the cursor: a pull
    await until(lambda: phone.status.cursor > 0)
    assert proxy.count("GET", "/sync/v1/pull") == 1
    await laptop.put("notes", "after", {"v": 1})
    await laptop.push()
    await until(lambda: phone.status.cursor == 2)
    assert proxy.count("GET", "/sync/v1/pull") == 1
    assert [r.row_id for r in await phone.query("notes")] == ["after", "before"]


async def test_live_reconnects_after_the_network_comes_back(
    make_device: MakeDevice, proxied_phone: tuple[SyncClient, FlakyProxy]
) -> None:
    laptop = await make_device("laptop")
    phone, proxy = proxied_phone
    phone.start_live()
    await until(lambda: phone.status.connected)

    proxy.go_offline()
    await until(lambda: not phone.status.connected)
    await laptop.put("notes", "missed", {"v": 1})
    await laptop.push()
    await phone.put("notes", "offline", {"v": 2})
    await asyncio.sleep(0.3)
    assert phone.status.pending == 1
    proxy.go_online()

    await until(lambda: phone.status.connected and phone.status.pending == 0 and phone.status.cursor >= 1)
    await laptop.pull()
    assert await laptop.get("notes", "offline") == {"v": 2}
    await until(lambda: phone.status.cursor == laptop.status.cursor)
    assert {r.row_id for r in await phone.query("notes")} == {"missed", "offline"}


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_two_live_devices_converge(make_device: MakeDevice, transport: str) -> None:
    laptop = await make_device("laptop", transport=transport)
    phone = await make_device("phone", transport=transport)
    laptop.start_live()
    phone.start_live()
    await until(lambda: laptop.status.connected and phone.status.connected)

    for n in range(10):
        await laptop.put("notes", f"l{n}", {"n": n})
        await phone.put("notes", f"p{n}", {"n": n})
    await phone.update("notes", "l0", {"seen": True})

    def settled() -> bool:
        return laptop.status.pending == phone.status.pending == 0 and laptop.status.cursor == phone.status.cursor

    await until(settled)
    await asyncio.sleep(0.2)
    await until(settled)
    assert await laptop.query("notes") == await phone.query("notes")
    assert len(await laptop.query("notes")) == 20


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_live_refreshes_a_rejected_token_and_carries_on(make_device: MakeDevice, transport: str) -> None:
    laptop = await make_device("laptop")
    phone = await make_device("phone", transport=transport)
    old = phone.api.tokens
    assert old is not None
    phone.api.set_tokens(dataclasses.replace(old, access_token="mnwd_at_" + "z" * 43))
    phone.start_live()
    await until(lambda: phone.status.connected)
    assert phone.api.tokens is not None
    assert phone.api.tokens.refresh_token != old.refresh_token
    await laptop.put("notes", "n", {"v": 1})
    await laptop.push()
    await until(lambda: phone.status.cursor == 1)
    assert await phone.get("notes", "n") == {"v": 1}
