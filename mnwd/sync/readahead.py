"""Read-ahead for devices paging through a stream: while one page travels to the device (and the device
decodes it), PostgreSQL already reads the next, so a cold device's catch-up overlaps the database's work with
the network's and the client's.

The next page is fetched only when the page just served said ``has_more``, kept for a short time, and handed
to the one request that asks for exactly that page (same stream, device, cursor, limit and filter). It is a
snapshot like any page: within a stream rows commit in ``seq`` order, so a page read a moment early is the
page as it stood then, never one with a hole. Pages held are bounded in number and in bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mnwd.clock import Clock
from mnwd.services import ServiceKey

__all__ = ["READAHEAD", "PageKey", "ReadAhead"]

# (app, user, device, cursor, limit, excluded device)
PageKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, int, int, uuid.UUID | None]


@dataclass
class _Page:
    started: float
    task: asyncio.Task[Any]
    size: int = 0


class ReadAhead:
    def __init__(
        self, *, max_pages: int = 64, max_bytes: int = 32 << 20, seconds: float = 2.0, clock: Clock | None = None
    ) -> None:
        self._clock = clock or Clock()
        self._max_pages = max_pages
        self._max_bytes = max_bytes
        self._seconds = seconds
        self._pages: dict[PageKey, _Page] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._pages)

    def start(self, key: PageKey, read: Callable[[], Awaitable[Any]], size: Callable[[Any], int]) -> None:
        """Read the page for ``key`` now; ``size`` tells the bytes a read page holds."""
        if key in self._pages:
            return
        self._expire()
        if len(self._pages) >= self._max_pages:
            return
        page = _Page(self._clock.monotonic(), asyncio.ensure_future(read()))
        self._pages[key] = page
        page.task.add_done_callback(lambda task: self._read(key, page, size))

    async def take(self, key: PageKey) -> Any | None:
        """The page read ahead for ``key``, or None (none, too old, dropped, or its read failed: read it now)."""
        if key not in self._pages:
            return None
        page = self._forget(key)
        if self._clock.monotonic() - page.started > self._seconds:
            page.task.cancel()
            page.task.add_done_callback(_retrieve)
            return None
        try:
            return await page.task
        except Exception:
            return None

    def close(self) -> None:
        for key in list(self._pages):
            self._drop(key)

    def _read(self, key: PageKey, page: _Page, size: Callable[[Any], int]) -> None:
        if page.task.cancelled() or page.task.exception() is not None or self._pages.get(key) is not page:
            return
        page.size = size(page.task.result())
        self.bytes += page.size
        if self.bytes > self._max_bytes:
            self._drop(key)

    def _forget(self, key: PageKey) -> _Page:
        page = self._pages.pop(key)
        self.bytes -= page.size
        return page

    def _drop(self, key: PageKey) -> None:
        page = self._forget(key)
        if not page.task.done():
            page.task.cancel()
            page.task.add_done_callback(_retrieve)

    def _expire(self) -> None:
        now = self._clock.monotonic()
        for key in [k for k, page in self._pages.items() if now - page.started > self._seconds]:
            self._drop(key)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A cancelled read must not log 'exception was never retrieved'."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.exception()


READAHEAD = ServiceKey("sync.readahead", ReadAhead)
