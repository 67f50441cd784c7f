"""Read-ahead for devices paging through a stream: while one page travels to the device (and the device
decodes it), PostgreSQL already reads the next, so a cold device's catch-up overlaps the database's work with
the network's and the client's.

The next page is fetched only when the page just served said ``has_more``, kept for a short time, and handed
to the one request that asks for exactly that page (same stream, device, cursor, limit and filter). It is a
snapshot like any page: within a stream rows commit in ``seq`` order, so a page read a moment early is the
page as it stood then, never one with a hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["PageKey", "ReadAhead"]

# (app, user, device, cursor, limit, excluded device)
PageKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, int, int, uuid.UUID | None]


class ReadAhead:
    def __init__(self, *, max_pages: int = 64, seconds: float = 2.0) -> None:
        self._max_pages = max_pages
        self._seconds = seconds
        self._pages: dict[PageKey, tuple[float, asyncio.Task[Any]]] = {}

    def __len__(self) -> int:
        return len(self._pages)

    def start(self, key: PageKey, read: Callable[[], Awaitable[Any]]) -> None:
        if key in self._pages:
            return
        self._expire()
        if len(self._pages) >= self._max_pages:
            return
        task = asyncio.ensure_future(read())
        task.add_done_callback(_retrieve)
        self._pages[key] = (time.monotonic(), task)

    async def take(self, key: PageKey) -> Any | None:
        """The page read ahead for ``key``, or None (none, too old, or its read failed: read it now)."""
        entry = self._pages.pop(key, None)
        if entry is None:
            return None
        started, task = entry
        if time.monotonic() - started > self._seconds:
            task.cancel()
            return None
        try:
            return await task
        except Exception:
            return None

    def close(self) -> None:
        for _, task in self._pages.values():
            task.cancel()
        self._pages.clear()

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (started, _) in self._pages.items() if now - started > self._seconds]:
            self._pages.pop(key)[1].cancel()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A read nobody takes must not log 'exception was never retrieved'."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.exception()
