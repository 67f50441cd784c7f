"""The sync engine: push the outbox, pull by cursor, apply pokes, hold the live event stream.

- **Push** sends pending outbox entries in mutation-id order, in batches (halved after a 413). The answer is
  recorded in one transaction; a lost answer means the same batch goes again and comes back ``duplicate``.
  ``409 mutation-gap`` (the server lost track of this device, e.g. it was registered anew) renumbers the pending
  entries from ``expected_mutation_id`` and pushes again.
- **Pull** applies each page with its cursor in one transaction, while ``has_more``. ``409 must-refetch`` pulls
  from 0, dropping the server rows with the first page; the outbox stays, so unsent changes survive.
- **Pokes** (SSE or WebSocket) that carry changes are applied when their ``after`` is our cursor; any other
  poke newer than the cursor starts a pull. Pull and poke application take one lock, so the cursor they compare
  against is the one they move.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from mnw_synckit._crypto import Keyring, is_sealed
from mnw_synckit._http import NETWORK_ERRORS, Api
from mnw_synckit._store import Change, Rejected, Store
from mnw_synckit.errors import (
    DeviceRevoked,
    EncryptionError,
    LoginRequired,
    OfflineError,
    ServerError,
    SyncKitError,
)

__all__ = ["Engine", "SyncStatus"]

log = logging.getLogger("mnw_synckit")

PULL_LIMIT = 1000
Transport = Literal["sse", "websocket"]


@dataclass
class SyncStatus:
    connected: bool = False
    uploading: bool = False
    downloading: bool = False
    pending: int = 0
    cursor: int = 0
    last_error: str | None = None


class Engine:
    def __init__(
        self,
        store: Store,
        api: Api,
        *,
        notify: Callable[[set[str]], None],
        on_rejected: Callable[[Rejected], None] | None,
        batch_size: int,
    ) -> None:
        self.store = store
        self.api = api
        self.notify = notify
        self.on_rejected = on_rejected
        self.batch_size = batch_size
        self.status = SyncStatus()
        self.keyring: Keyring | None = None
        self.reload_keyring: Callable[[], Any] | None = None
        self.dirty = asyncio.Event()
        self._pushing = asyncio.Lock()
        self._pulling = asyncio.Lock()

    async def device_id(self) -> str:
        device = await self.store.call(self.store.meta, "device_id")
        if device is None:
            raise LoginRequired("no device registered: call login() first")
        return device

    async def refresh_status(self) -> None:
        self.status.pending = await self.store.call(self.store.pending_count)
        self.status.cursor = await self.store.call(self.store.cursor)

    # -- push -------------------------------------------------------------------------------------------------

    async def push(self) -> int:
        """Push until the outbox has nothing pending; how many mutations the server acknowledged."""
        async with self._pushing:
            self.status.uploading = True
            try:
                done, duplicates = await self._push_all()
            finally:
                self.status.uploading = False
                await self.refresh_status()
        if duplicates:
            # Their seqs are unknown: a pull to the end brings them in (and ends their overlay on the rows).
            await self.pull()
        return done

    async def _push_all(self) -> tuple[int, int]:
        """Mutations acknowledged, and how many of them as duplicates."""
        device_id = await self.device_id()
        done, duplicates, size = 0, 0, self.batch_size
        batch = await self.store.call(self.store.outgoing, size)
        while batch:
            mutations = [
                {
                    "mutation_id": m.mutation_id,
                    "table": m.table,
                    "op": m.op,
                    "row_id": m.row_id,
                    "data": self._seal(m.table, m.row_id, m.data),
                    "client_timestamp": m.client_timestamp,
                }
                for m in batch
            ]
            # The next batch is read from the store while this one travels (they are sent one after the other:
            # the server takes a device's mutation ids in order only).
            following = asyncio.create_task(self.store.call(self.store.outgoing, size, batch[-1].mutation_id))
            try:
                body = await self.api.request(
                    "POST", "/sync/v1/push", json={"device_id": device_id, "mutations": mutations}
                )
            except ServerError as error:
                await _cancel(following)
                if error.slug == "mutation-gap":
                    expected = int(error.problem["expected_mutation_id"])
                    log.warning("mutation-gap: the server expects %d; renumbering the outbox", expected)
                    await self.store.call(self.store.renumber, expected)
                elif error.status == 413 and size > 1:
                    size = max(1, size // 2)
                elif error.status == 403:
                    raise DeviceRevoked(error.status, error.problem) from None
                else:
                    raise
                batch = await self.store.call(self.store.outgoing, size)
                continue
            except BaseException:
                await _cancel(following)
                raise
            rejected, tables = await self.store.call(self.store.record_push, body["results"])
            done += len(batch)
            duplicates += sum(result["status"] == "duplicate" for result in body["results"])
            if tables:
                self.notify(tables)
            for entry in rejected:
                log.warning("mutation %d rejected: %s", entry.mutation_id, entry.error)
                if self.on_rejected is not None:
                    self.on_rejected(entry)
            batch = await following
        return done, duplicates

    def _seal(self, table: str, row_id: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if data is None or self.keyring is None:
            return data
        return self.keyring.seal(table, row_id, data)

    # -- pull -------------------------------------------------------------------------------------------------

    async def pull(self) -> int:
        """Pull until ``has_more`` is false; how many changes were applied."""
        async with self._pulling:
            self.status.downloading = True
            try:
                return await self._pull_all()
            finally:
                self.status.downloading = False
                await self.refresh_status()

    async def _pull_all(self) -> int:
        cursor = await self.store.call(self.store.cursor)
        refetch, applied = False, 0
        fetching = asyncio.create_task(self._fetch(cursor))
        try:
            while True:
                try:
                    page = await fetching
                except ServerError as error:
                    if error.slug == "must-refetch" and cursor != 0:
                        log.warning("cursor %d is below the compaction horizon: refetching", cursor)
                        cursor, refetch = 0, True
                        fetching = asyncio.create_task(self._fetch(0))
                        continue
                    raise
                if page["has_more"]:
                    fetching = asyncio.create_task(self._fetch(page["cursor"]))  # travels while this one is applied
                changes = await self._changes(page["changes"])
                tables = await self.store.call(
                    functools.partial(
                        self.store.apply, changes, page["cursor"], complete=not page["has_more"], refetch=refetch
                    )
                )
                refetch = False
                applied += len(changes)
                cursor = page["cursor"]
                if tables:
                    self.notify(tables)
                if not page["has_more"]:
                    return applied
        finally:
            await _cancel(fetching)

    async def _fetch(self, cursor: int) -> dict[str, Any]:
        page: dict[str, Any] = await self.api.request(
            "GET", "/sync/v1/pull", params={"cursor": str(cursor), "limit": str(PULL_LIMIT)}
        )
        return page

    async def _changes(self, raw_changes: list[dict[str, Any]]) -> list[Change]:
        changes = []
        for raw in raw_changes:
            data = raw.get("data")
            if isinstance(data, dict) and "ciphertext" in data and is_sealed(data):
                data = await self._open(raw["table"], raw["row_id"], data)
            changes.append(Change(raw["seq"], raw["table"], raw["op"], raw["row_id"], data))
        return changes

    async def _open(self, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.keyring is None:
            raise EncryptionError("this stream holds encrypted rows: open the client with a passphrase")
        if int(data["key_version"]) not in self.keyring.keys and self.reload_keyring is not None:
            await self.reload_keyring()  # another device rotated the key
        return self.keyring.open_row(table, row_id, data)

    async def apply_poke(self, poke: dict[str, Any]) -> None:
        seq = int(poke.get("seq") or 0)
        async with self._pulling:
            cursor = await self.store.call(self.store.cursor)
            if "changes" in poke and poke.get("after") == cursor:
                changes = await self._changes(poke["changes"])
                tables = await self.store.call(functools.partial(self.store.apply, changes, seq, complete=False))
                await self.refresh_status()
                if tables:
                    self.notify(tables)
                return
            if seq <= cursor:
                return
        await self.pull()

    # -- live -------------------------------------------------------------------------------------------------

    async def live(self, transport: Transport = "sse") -> None:
        """Hold the event stream until cancelled: pull on connect, apply pokes, push local writes as they
        come; reconnect with backoff after network loss, sleep or a closed stream."""
        uploader = asyncio.create_task(self._upload_forever())
        attempt = 0
        try:
            while True:
                try:
                    async for event in self._events(transport):
                        attempt = 0
                        await self._on_event(event)
                except LoginRequired as error:
                    self.status.last_error = str(error)
                    raise
                except (SyncKitError, *NETWORK_ERRORS) as error:
                    self.status.last_error = repr(error)
                    log.info("event stream lost: %r", error)
                finally:
                    self.status.connected = False
                await asyncio.sleep(self.api.backoff.delay(attempt))
                attempt += 1
        finally:
            uploader.cancel()
            await asyncio.gather(uploader, return_exceptions=True)

    async def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "ready":
            self.status.connected = True
            self.dirty.set()
            if int(event.get("seq") or 0) > await self.store.call(self.store.cursor):
                await self.pull()
        elif event.get("type") == "poke":
            await self.apply_poke(event)

    async def _upload_forever(self) -> None:
        attempt = 0
        self.dirty.set()
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            try:
                await self.push()
                attempt = 0
            except LoginRequired:
                raise
            except (SyncKitError, *NETWORK_ERRORS) as error:
                self.status.last_error = repr(error)
                await asyncio.sleep(self.api.backoff.delay(attempt))
                attempt += 1
                self.dirty.set()

    async def _events(self, transport: Transport) -> AsyncIterator[dict[str, Any]]:
        if transport == "websocket":
            async for event in self._websocket_events():
                yield event
            return
        async with self.api.send("GET", "/sync/v1/events", headers={"Accept": "text/event-stream"}) as response:
            if response.status != 200:
                raise ServerError(response.status, None, "the event stream was refused")
            name, data = "", []
            async for line in response.content:
                text = line.decode().rstrip("\r\n")
                if text.startswith(":"):
                    continue
                if text:
                    field, _, value = text.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                    continue
                if data:
                    yield {"type": name or "message", **json.loads("\n".join(data))}
                name, data = "", []
        raise OfflineError("the event stream ended")

    async def _websocket_events(self) -> AsyncIterator[dict[str, Any]]:
        token = await self.api.access_token()
        url = self.api.url("/sync/v1/events")
        try:
            ws = await self.api.session.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
        except aiohttp.WSServerHandshakeError as error:
            if error.status == 401 and self.api.tokens is not None:
                await self.api.refresh(self.api.tokens)  # then reconnect with the new token
            raise ServerError(error.status, None, "the WebSocket was refused") from error
        async with ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    yield json.loads(message.data)
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
        raise OfflineError("the event stream ended")


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
