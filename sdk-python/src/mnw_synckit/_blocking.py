"""`BlockingSyncClient`: `SyncClient` for scripts without asyncio. It runs an event loop in a thread of its own
and waits for each call; ``live=True`` keeps syncing in that thread between calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from mnw_synckit._client import SyncClient
from mnw_synckit._engine import SyncStatus
from mnw_synckit._store import Data, Rejected, Row

__all__ = ["BlockingSyncClient"]

T = TypeVar("T")


class BlockingSyncClient:
    """::

    with BlockingSyncClient("https://mnw.example", CLIENT_ID, "notes.db") as sk:
        sk.put("notes", "n1", {"title": "Hello"})
        sk.sync()
    """

    def __init__(self, base_url: str, client_id: str, db_path: str | Path, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mnw-synckit", daemon=True)
        self._options = (base_url, client_id, db_path, options)
        self._client: SyncClient | None = None

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def client(self) -> SyncClient:
        if self._client is None:
            raise RuntimeError("the client is not open: use `with BlockingSyncClient(...)`")
        return self._client

    def open(self) -> None:
        self._thread.start()
        base_url, client_id, db_path, options = self._options

        async def make() -> SyncClient:
            client = SyncClient(base_url, client_id, db_path, **options)
            await client.open()
            return client

        self._client = self._run(make())

    def close(self) -> None:
        if self._client is not None:
            self._run(self._client.close())
            self._client = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BlockingSyncClient:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def signed_in(self) -> bool:
        return self.client.signed_in

    @property
    def status(self) -> SyncStatus:
        return self.client.status

    def login(self, **options: Any) -> None:
        self._run(self.client.login(**options))

    def logout(self) -> None:
        self._run(self.client.logout())

    def get(self, table: str, row_id: str) -> Data | None:
        return self._run(self.client.get(table, row_id))

    def query(self, table: str, where: Data | None = None) -> list[Row]:
        return self._run(self.client.query(table, where))

    def put(self, table: str, row_id: str, data: Data) -> None:
        self._run(self.client.put(table, row_id, data))

    def update(self, table: str, row_id: str, fields: Data) -> None:
        self._run(self.client.update(table, row_id, fields))

    def delete(self, table: str, row_id: str) -> None:
        self._run(self.client.delete(table, row_id))

    def push(self) -> int:
        return self._run(self.client.push())

    def pull(self) -> int:
        return self._run(self.client.pull())

    def sync(self) -> None:
        self._run(self.client.sync())

    def rejected(self) -> list[Rejected]:
        return self._run(self.client.conflicts.inbox())

    def blob_put(self, path: str | Path) -> str:
        return self._run(self.client.blobs.put(path))

    def blob_get(self, sha256: str, dest: str | Path) -> Path:
        return self._run(self.client.blobs.get(sha256, dest))
