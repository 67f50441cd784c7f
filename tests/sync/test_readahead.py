"""Read-ahead: the next page is read while the current one travels, and handed only to the request for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from mnwd.sync.readahead import READAHEAD, PageKey, ReadAhead
from tests.support.accounts import MakeUser
from tests.support.oauth import RegisteredApp
from tests.sync.streams import SyncApi, token_for

APP, USER = uuid.uuid4(), uuid.uuid4()


def _key(cursor: int) -> PageKey:
    return (APP, USER, None, cursor, 100, None)


async def _value(value: Any) -> Any:
    return value


async def test_a_page_read_ahead_is_taken_once() -> None:
    pages = ReadAhead()
    pages.start(_key(5), lambda: _value("page after 5"), len)
    assert len(pages) == 1
    assert await pages.take(_key(6)) is None
    assert await pages.take(_key(5)) == "page after 5"
    assert await pages.take(_key(5)) is None
    assert len(pages) == 0


async def test_old_failed_and_surplus_reads_are_not_served() -> None:
    async def broken() -> None:
        raise ConnectionError("database went away")

    pages = ReadAhead(max_pages=2, seconds=0.05)
    pages.start(_key(1), broken, len)
    assert await pages.take(_key(1)) is None
    slow = asyncio.Event()

    async def never() -> None:
        await slow.wait()

    pages.start(_key(2), never, len)
    pages.start(_key(3), never, len)
    pages.start(_key(4), lambda: _value("over the limit"), len)
    assert len(pages) == 2
    await asyncio.sleep(0.1)
    assert await pages.take(_key(2)) is None, "too old"
    pages.close()
    assert len(pages) == 0


async def test_a_slow_read_is_awaited_and_pages_are_bounded_in_bytes() -> None:
    pages = ReadAhead(max_bytes=10)
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "0123456"

    pages.start(_key(1), slow, len)
    pages.start(_key(2), lambda: _value("abcdefg"), len)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert pages.bytes == 7
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert pages.bytes == 7, "the page that went over the budget is dropped"
    assert await pages.take(_key(2)) == "abcdefg"
    assert await pages.take(_key(1)) is None
    pages.start(_key(3), slow, len)
    assert await pages.take(_key(3)) == "0123456", "a read still running is awaited, not cancelled"
    assert pages.bytes == 0


def _note_reads(pages: ReadAhead, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when a read started from now on has read its page."""
    done = asyncio.Event()
    start = pages.start

    def start_noted(key: PageKey, read: Callable[[], Awaitable[Any]], size: Callable[[Any], int]) -> None:
        async def noted() -> Any:
            try:
                return await read()
            finally:
                done.set()

        start(key, noted, size)

    monkeypatch.setattr(pages, "start", start_noted)
    return done


async def test_paging_reads_ahead_for_the_same_device_only(
    alice_api: SyncApi,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    notes_app: RegisteredApp,
    services: Services,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(10)])
    first = await (await alice_api.pull(0, limit=4)).json()
    assert first["has_more"] is True
    assert len(services[READAHEAD]) == 1
    # Another user asking for the same cursor gets their own (empty) stream, not alice's page.
    await make_user("bob")
    bob = SyncApi(client, await token_for(aiohttp_client, client, "bob", notes_app))
    await bob.register("phone")
    theirs = await (await bob.pull(first["cursor"], limit=4)).json()
    assert theirs["changes"] == []
    assert len(services[READAHEAD]) == 1
    # Alice's next page comes from the read-ahead, the same as a fresh read would give.
    last_read = _note_reads(services[READAHEAD], monkeypatch)
    second = await (await alice_api.pull(first["cursor"], limit=4)).json()
    assert [c["row_id"] for c in second["changes"]] == ["r4", "r5", "r6", "r7"]
    assert second["has_more"] is True
    # A change pushed after the last page was read ahead is not in it (the page as it stood), and comes next:
    # the page is a prefix of the stream, never one with a hole. The read runs in the background: wait for it,
    # or the push may land before it reads.
    await asyncio.wait_for(last_read.wait(), 5)
    await alice_api.push([alice_api.mutation("late", {"n": 10})])
    last = await (await alice_api.pull(second["cursor"], limit=4)).json()
    assert ([c["row_id"] for c in last["changes"]], last["has_more"]) == (["r8", "r9"], False)
    assert len(services[READAHEAD]) == 0
    after = await (await alice_api.pull(last["cursor"], limit=4)).json()
    assert [c["row_id"] for c in after["changes"]] == ["late"]


@pytest.mark.parametrize("params", [{"limit": 3}, {"limit": 4, "exclude_own": 1}])
async def test_a_different_page_is_read_afresh(alice_api: SyncApi, services: Services, params: dict[str, Any]) -> None:
    await alice_api.push([alice_api.mutation(f"r{n}", {"n": n}) for n in range(10)])
    first = await (await alice_api.pull(0, limit=4)).json()
    other = await (await alice_api.pull(first["cursor"], **params)).json()
    expected = [] if params.get("exclude_own") else ["r4", "r5", "r6"]
    assert [c["row_id"] for c in other["changes"]] == expected
