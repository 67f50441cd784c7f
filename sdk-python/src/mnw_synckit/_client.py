"""`SyncClient`: the store the app reads and writes, and the engine that keeps it in sync."""

from __future__ import annotations

import asyncio
import platform
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from mnw_synckit import _login
from mnw_synckit._blobs import Blobs
from mnw_synckit._crypto import Keyring
from mnw_synckit._engine import Engine, SyncStatus, Transport
from mnw_synckit._http import Api, Backoff
from mnw_synckit._store import Data, LocalWrite, Rejected, Resolver, Row, Store
from mnw_synckit._tokens import FileTokenStore, TokenStore
from mnw_synckit.errors import ServerError

__all__ = ["Conflicts", "SyncClient", "Transaction"]


class Transaction:
    """Writes gathered by ``async with sk.tx() as tx`` and committed together (with their outbox entries) when
    the block ends without an exception. Reads inside the block do not see them yet."""

    def __init__(self) -> None:
        self.writes: list[LocalWrite] = []

    def put(self, table: str, row_id: str, data: Data) -> None:
        self.writes.append(LocalWrite("put", table, row_id, dict(data)))

    def update(self, table: str, row_id: str, fields: Data) -> None:
        self.writes.append(LocalWrite("patch", table, row_id, dict(fields)))

    def delete(self, table: str, row_id: str) -> None:
        self.writes.append(LocalWrite("delete", table, row_id, None))


class Conflicts:
    """Per-table resolvers, and the inbox of mutations the server rejected (kept until dismissed)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def register(self, table: str, resolver: Resolver) -> None:
        """``resolver(server_row, local_row) -> row`` decides what the app sees of a row while it has local changes
        the server has not sent back yet (by default: the local changes laid over the server's row, field by
        field for ``update``). Keep it pure and quick: it runs in the store's thread."""
        self._store.resolvers[table] = resolver

    async def inbox(self) -> list[Rejected]:
        return await self._store.call(self._store.rejected)

    async def dismiss(self, mutation_id: int) -> bool:
        return await self._store.call(self._store.dismiss, mutation_id)


class SyncClient:
    """An offline-first synced store::

    async with SyncClient("https://mnw.example", CLIENT_ID, "notes.db") as sk:
        if not sk.signed_in:
            await sk.login()
        await sk.put("notes", "n1", {"title": "Hello"})
        await sk.sync()
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        db_path: str | Path,
        *,
        device_name: str | None = None,
        token_store: TokenStore | None = None,
        passphrase: str | None = None,
        live: bool = False,
        transport: Transport = "sse",
        on_rejected: Callable[[Rejected], None] | None = None,
        backoff: Backoff | None = None,
        batch_size: int = 1000,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.db_path = Path(db_path)
        self._device_name = device_name
        self._token_store = token_store or FileTokenStore(self.db_path.with_name(self.db_path.name + ".tokens.json"))
        self._passphrase = passphrase
        self._live = live
        self._transport: Transport = transport
        self._on_rejected = on_rejected
        self._backoff = backoff or Backoff()
        self._batch_size = batch_size
        self._own_session = session is None
        self._session = session
        self._store = Store(self.db_path)
        self.conflicts = Conflicts(self._store)
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._live_task: asyncio.Task[None] | None = None
        self._engine: Engine | None = None
        self._api: Api | None = None
        self._blobs: Blobs | None = None

    # -- opening and closing ----------------------------------------------------------------------------------

    async def __aenter__(self) -> SyncClient:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        await self._store.open()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        self._api = Api(
            self.base_url, self.client_id, self._token_store, self._session, self._backoff, self._record_error
        )
        self._engine = Engine(
            self._store, self._api, notify=self._notify, on_rejected=self._on_rejected, batch_size=self._batch_size
        )
        self._engine.reload_keyring = self._reload_keyring
        self._blobs = Blobs(self._api, self._store)
        await self._engine.refresh_status()
        if self.signed_in:
            # Offline-first: a device registered before and a keyring read before need no network.
            if await self._store.call(self._store.meta, "device_id") is None:
                await self._register_device()
            if self._passphrase is not None:
                await self._open_keyring(self._passphrase)
            if self._live:
                self.start_live()

    async def close(self) -> None:
        await self.stop_live()
        if self._own_session and self._session is not None:
            await self._session.close()
        await self._store.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the client is not open: use `async with SyncClient(...)`")
        return self._engine

    @property
    def api(self) -> Api:
        if self._api is None:
            raise RuntimeError("the client is not open: use `async with SyncClient(...)`")
        return self._api

    # -- signing in -------------------------------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.api.tokens is not None

    async def login(self, *, open_url: _login.OpenUrl = _login.open_in_browser, wait_seconds: float = 300.0) -> None:
        """PKCE in the browser, then this device registered (and the token bound to it)."""
        assert self._session is not None
        tokens = await _login.authorize(
            self._session, self.base_url, self.client_id, open_url=open_url, wait_seconds=wait_seconds
        )
        self.api.set_tokens(tokens)
        await self._after_sign_in()
        if self._live:
            self.start_live()

    async def logout(self) -> None:
        """Revoke the sign-in on the server and forget the tokens; the local data and outbox stay."""
        await self.stop_live()
        assert self._session is not None
        await _login.revoke(self._session, self.base_url, self.client_id, self.api.tokens)
        self.api.set_tokens(None)

    async def _after_sign_in(self) -> None:
        await self._register_device()
        if self._passphrase is not None:
            await self.enable_encryption(self._passphrase)

    async def _register_device(self) -> None:
        """Register this device (or find it again by name: the store keeps the name it first registered)."""
        name = self._device_name or await self._store.call(self._store.meta, "device_name") or socket.gethostname()
        device = await self.api.request(
            "POST", "/sync/v1/devices", json={"device_name": name, "platform": platform.system().lower()}
        )
        await self._store.call(self._store.set_meta, "device_name", name)
        await self._store.call(self._store.set_meta, "device_id", device["id"])

    async def device_id(self) -> str | None:
        return await self._store.call(self._store.meta, "device_id")

    # -- encryption -------------------------------------------------------------------------------------------

    async def enable_encryption(self, passphrase: str) -> None:
        """Open the stream's keyring with ``passphrase``, or create it when the stream has none."""
        self._passphrase = passphrase
        while True:
            stored = await self._get_key()
            if stored is not None:
                await self._use_keyring(stored["encrypted_key"], passphrase)
                return
            keyring = await asyncio.to_thread(Keyring.create, passphrase)
            body = {"expected_version": None, "key_version": keyring.version, "encrypted_key": keyring.dump()}
            try:
                await self.api.request("PUT", "/sync/v1/keys", json=body)
            except ServerError as error:
                if error.slug == "key-version-conflict":
                    continue  # another device made it first: use theirs
                raise
            await self._use_keyring(str(body["encrypted_key"]), passphrase, keyring)
            return

    async def _open_keyring(self, passphrase: str) -> None:
        """The keyring as this device last read it (it is wrapped by the passphrase), else the server's."""
        cached = await self._store.call(self._store.meta, "keyring")
        if cached is None:
            await self.enable_encryption(passphrase)
        else:
            await self._use_keyring(cached, passphrase)

    async def _use_keyring(self, encrypted_key: str, passphrase: str, keyring: Keyring | None = None) -> None:
        if keyring is None:
            keyring = await asyncio.to_thread(Keyring.open, encrypted_key, passphrase)
        await self._store.call(self._store.set_meta, "keyring", encrypted_key)
        self.engine.keyring = keyring

    async def rotate_key(self) -> int:
        """A new data key, the old ones kept for old rows; the new version."""
        keyring = self.engine.keyring
        if keyring is None:
            raise RuntimeError("encryption is not enabled")
        rotated = keyring.rotated()
        dumped = rotated.dump()
        body = {"expected_version": keyring.version, "key_version": rotated.version, "encrypted_key": dumped}
        await self.api.request("PUT", "/sync/v1/keys", json=body)
        await self._use_keyring(dumped, "", rotated)
        return rotated.version

    async def _get_key(self) -> dict[str, Any] | None:
        try:
            key: dict[str, Any] = await self.api.request("GET", "/sync/v1/keys")
        except ServerError as error:
            if error.status == 404:
                return None
            raise
        return key

    async def _reload_keyring(self) -> None:
        if self._passphrase is not None:
            await self.enable_encryption(self._passphrase)

    # -- the store --------------------------------------------------------------------------------------------

    async def get(self, table: str, row_id: str) -> Data | None:
        return await self._store.call(self._store.get, table, row_id)

    async def query(self, table: str, where: Data | None = None) -> list[Row]:
        """Rows of ``table`` whose fields equal ``where``'s values, by ``row_id``."""
        return await self._store.call(self._store.query, table, where)

    async def put(self, table: str, row_id: str, data: Data) -> None:
        """The whole row (replacing what was there)."""
        async with self.tx() as tx:
            tx.put(table, row_id, data)

    async def update(self, table: str, row_id: str, fields: Data) -> None:
        """Some fields of the row, merged field by field with changes from other devices."""
        async with self.tx() as tx:
            tx.update(table, row_id, fields)

    async def delete(self, table: str, row_id: str) -> None:
        async with self.tx() as tx:
            tx.delete(table, row_id)

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Transaction]:
        transaction = Transaction()
        yield transaction
        if transaction.writes:
            tables = await self._store.call(self._store.write, transaction.writes)
            self._notify(tables)
            self.engine.status.pending = await self._store.call(self._store.pending_count)
            self.engine.dirty.set()

    async def watch(self, table: str, where: Data | None = None) -> AsyncIterator[list[Row]]:
        """The matching rows now, and again whenever a local write or a pulled change alters them."""
        changed = asyncio.Event()
        self._watchers.setdefault(table, set()).add(changed)
        try:
            last: list[Row] | None = None
            while True:
                changed.clear()
                rows = await self.query(table, where)
                if rows != last:
                    last = rows
                    yield rows
                await changed.wait()
        finally:
            self._watchers[table].discard(changed)

    def _notify(self, tables: set[str]) -> None:
        for table in tables:
            for event in self._watchers.get(table, ()):
                event.set()

    # -- sync -------------------------------------------------------------------------------------------------

    async def push(self) -> int:
        return await self.engine.push()

    async def pull(self) -> int:
        return await self.engine.pull()

    async def sync(self) -> None:
        """Pull, push what is pending, pull again. Pulling first lays ``update``s over the newest server rows,
        so the whole rows they push keep the fields other devices changed meanwhile."""
        await self.engine.pull()
        if await self.engine.push():
            await self.engine.pull()

    async def live(self) -> None:
        """Hold the event stream (and push local writes as they come) until cancelled."""
        await self.engine.live(self._transport)

    def start_live(self) -> None:
        if self._live_task is None or self._live_task.done():
            self._live_task = asyncio.create_task(self.live())

    async def stop_live(self) -> None:
        task, self._live_task = self._live_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def status(self) -> SyncStatus:
        return self.engine.status

    def _record_error(self, error: BaseException | None) -> None:
        if self._engine is not None:
            self._engine.status.last_error = None if error is None else str(error)

    # -- blobs ------------------------------------------------------------------------------------------------

    @property
    def blobs(self) -> Blobs:
        if self._blobs is None:
            raise RuntimeError("the client is not open")
        return self._blobs
