"""Async byte streams for feeding `BlobStore.put`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable


class Boom(Exception):
    """Raised by a stream on purpose, to check that a failing upload keeps nothing."""


class ChunkedStream:
    """``total`` bytes in chunks of ``chunk_size``, counting the chunks pulled.

    ``on_chunk(i)`` runs before chunk ``i`` is handed out; ``fail_at`` raises `Boom` instead of chunk
    ``fail_at``; ``block_at`` waits forever instead of handing out that chunk.
    """

    def __init__(
        self,
        total: int,
        chunk_size: int = 64 * 1024,
        *,
        on_chunk: Callable[[int], None] | None = None,
        fail_at: int | None = None,
        block_at: int | None = None,
    ) -> None:
        self.total = total
        self.chunk_size = chunk_size
        self.on_chunk = on_chunk
        self.fail_at = fail_at
        self.block_at = block_at
        self.pulled = 0
        self.blocked = asyncio.Event()

    @property
    def chunk_count(self) -> int:
        return -(-self.total // self.chunk_size)

    def chunk(self, index: int) -> bytes:
        length = min(self.chunk_size, self.total - index * self.chunk_size)
        return bytes([(index * 7 + 3) % 256]) * length

    def content(self) -> bytes:
        return b"".join(self.chunk(i) for i in range(self.chunk_count))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunk_count):
            if index == self.fail_at:
                raise Boom(f"stream failed at chunk {index}")
            if index == self.block_at:
                self.blocked.set()
                await asyncio.Event().wait()
            if self.on_chunk is not None:
                self.on_chunk(index)
            self.pulled += 1
            yield self.chunk(index)
            await asyncio.sleep(0)


async def stream_of(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
