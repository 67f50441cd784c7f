"""Growth: what one stream's pull, push and compaction cost as ``sync_log`` grows from 10k rows to 1M (and to
10M with ``--big``; 1k and 10k with ``--quick``), in ms; each figure against the same figure at the smallest
size. Flat is the aim: nothing a stream does should scan other streams' changes.

The measured streams stay the same size at every size of the table:

- pull: one stream of `PAGE` changes read over HTTP by a registered device, a full page (``cursor=0``, the whole
  stream, so no read-ahead starts) and a tail page (the last `TAIL` changes);
- push: single-mutation pushes over HTTP by another stream's device, one after another;
- compaction: `mnwd.sync.compaction.compact_stream` of a stream of `PAGE` changes, half of them superseded (a
  new stream for each round and size, filled with the others).

Other streams fill the table up to each size: one ``INSERT … SELECT generate_series`` (not through the API),
`STREAM_ROWS` changes per stream, streams interleaved in runs of 100 rows as concurrent pushers leave them,
payloads of ~200 bytes of JSON like a client's ciphertext; then ``VACUUM ANALYZE`` and a ``CHECKPOINT`` so that
neither lands in a measurement. The table only grows, so the sizes cannot alternate: each size's rounds run
after its fill (the four figures alternating within the size), and the spread shows how much the machine moved.
"""

from __future__ import annotations

import sys
import time
import uuid

import aiohttp
import asyncpg
import orjson

from bench.fixtures import NO_TIMEOUT, Device, HttpPusher, SyncStack, batches, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.sync.compaction import compact_stream

TAIL = 10
STREAM_ROWS = 1000
RUN = 100  # filler rows of one stream in a row
PULLS = 10  # full pages a round
TAILS = 30
PUSHES = 20

FILL = """
INSERT INTO sync_log (app_id, user_id, table_name, operation, row_id, data, client_timestamp)
SELECT $1, s.users[1 + (g / $4) % cardinality(s.users)], 'notes', 'INSERT', 'f' || g,
       jsonb_build_object('ciphertext', repeat(md5(g::text), 5), 'iv', left(md5(g::text), 16), 'key_version', 1),
       now()
FROM generate_series($2::bigint, $3::bigint) AS g, (SELECT $5::uuid[] AS users) AS s
"""

# A stream of $3 changes to $3 / 2 rows: each row inserted, then updated (the insert is superseded).
FILL_STREAM = """
INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id, data,
                      client_timestamp)
SELECT $1, $2, $4::uuid, CASE WHEN $4::uuid IS NULL THEN NULL ELSE g END, 'notes',
       CASE WHEN g <= $3 / 2 THEN 'INSERT' ELSE 'UPDATE' END, 'r' || (g % ($3 / 2)),
       jsonb_build_object('ciphertext', repeat(md5(g::text), 5), 'iv', left(md5(g::text), 16), 'key_version', 1),
       now()
FROM generate_series(1, $3) AS g
"""


class Growth:
    """The measured streams and the table's filling."""

    def __init__(self, stack: SyncStack, session: aiohttp.ClientSession, options: Options, page: int) -> None:
        assert stack.app_id is not None
        self.stack = stack
        self.app_id = stack.app_id
        self.session = session
        self.options = options
        self.page = page
        self.filled = 0  # filler rows so far
        self.compactable: list[uuid.UUID] = []
        self.reader: Device | None = None
        self.tail_cursor = 0
        self.pusher: HttpPusher | None = None

    async def setup(self) -> None:
        puller, pusher = await self.stack.create_users(2, prefix="measured")
        writer, reader, pushing = await self.stack.mint_devices([puller, puller, pusher])
        for device, name in ((writer, "phone"), (reader, "laptop"), (pushing, "tablet")):
            await self.stack.register(self.session, device, name)
        assert writer.device_id is not None
        await self.stack.pool.execute(FILL_STREAM, self.app_id, puller, 2 * self.page, uuid.UUID(writer.device_id))
        # FILL_STREAM makes 2 * page changes; keep the newest page of them: the stream is exactly one page.
        await self.stack.pool.execute(
            "DELETE FROM sync_log WHERE app_id = $1 AND user_id = $2 AND mutation_id <= $3",
            self.app_id,
            puller,
            self.page,
        )
        head = await self.stack.pool.fetchval(
            "SELECT max(seq) FROM sync_log WHERE app_id = $1 AND user_id = $2", self.app_id, puller
        )
        self.reader, self.tail_cursor = reader, head - TAIL
        self.pusher = HttpPusher(self.session, self.stack.base_url, pushing)

    async def grow_to(self, size: int) -> float:
        """New compaction streams for this size's rounds, then filler up to ``size`` rows; the fill's seconds."""
        started = time.perf_counter()
        users = await self.stack.create_users(self.options.rounds + 1, prefix=f"c{size}x")
        # A connection of its own: the pool's statement timeout would end a big fill.
        conn = await asyncpg.connect(self.stack.db_url)
        try:
            for user in users:
                await conn.execute(FILL_STREAM, self.app_id, user, self.page, None)
            self.compactable = users
            missing = max(0, size - await conn.fetchval("SELECT count(*) FROM sync_log"))
            if missing:
                streams = await self.stack.create_users(max(1, missing // STREAM_ROWS), prefix=f"f{size}x")
                first = self.filled + 1
                self.filled += missing
                await conn.execute(FILL, self.app_id, first, self.filled, RUN, streams)
            await conn.execute("VACUUM ANALYZE sync_log")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
        return time.perf_counter() - started

    async def _pull(self, cursor: int, expected: int) -> None:
        assert self.reader is not None
        async with self.session.get(
            f"{self.stack.base_url}/sync/v1/pull",
            params={"cursor": str(cursor), "limit": str(self.page)},
            headers=self.reader.headers,
        ) as response:
            body = orjson.loads(await response.read())
            assert response.status == 200, body
        assert len(body["changes"]) == expected, len(body["changes"])
        assert not body["has_more"], body["cursor"]

    async def pull_full(self) -> float:
        started = time.perf_counter()
        for _ in range(PULLS):
            await self._pull(0, self.page)
        return (time.perf_counter() - started) / PULLS * 1e3

    async def pull_tail(self) -> float:
        started = time.perf_counter()
        for _ in range(TAILS):
            await self._pull(self.tail_cursor, TAIL)
        return (time.perf_counter() - started) / TAILS * 1e3

    async def push(self) -> float:
        assert self.pusher is not None
        bodies = [self.pusher.prepare(b) for b in batches(PUSHES, 1)]
        started = time.perf_counter()
        for body in bodies:
            await self.pusher.push(body)
        return (time.perf_counter() - started) / PUSHES * 1e3

    async def compact(self) -> float:
        user = self.compactable.pop()
        started = time.perf_counter()
        done = await compact_stream(self.stack.pool, self.app_id, user, tombstone_days=30)
        elapsed = time.perf_counter() - started
        assert done.superseded == self.page // 2, done
        return elapsed * 1e3


async def run(options: Options) -> list[Result]:
    sizes = [1_000, 10_000] if options.quick else [10_000, 1_000_000, *([10_000_000] if options.big else [])]
    page = options.size(1000, 100)
    figures: list[list[list[float]]] = []
    async with sync_stack(options) as stack, aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
        growth = Growth(stack, session, options, page)
        await growth.setup()
        for size in sizes:
            seconds = await growth.grow_to(size)
            print(f"sync_growth: {size:,} rows in sync_log after {seconds:.1f} s of filling", file=sys.stderr)
            await growth.pull_full()  # warm-up: caches, connections; one compaction stream is spare
            await growth.pull_tail()
            await growth.push()
            await growth.compact()
            figures.append(await alternate(options, [growth.pull_full, growth.pull_tail, growth.push, growth.compact]))
    names = [
        f"pull, full page of {page:,}",
        f"pull, tail page of {TAIL}",
        "single-mutation push",
        f"compact a stream of {page:,} (half superseded)",
    ]
    base = sizes[0]
    return [
        Result(
            f"growth: {name}, {size:,} log rows",
            "ms",
            figures[i][n],
            f"at {base:,} rows",
            figures[0][n],
            target_max=2.0,
        )
        for i, size in enumerate(sizes)
        if i > 0
        for n, name in enumerate(names)
    ]
