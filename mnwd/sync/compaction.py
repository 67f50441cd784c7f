"""Compaction of the change log: per row only its newest change, and no DELETE older than the retention window.

Every change carries the whole row (payloads are end-to-end encrypted, so the server could not merge partial
ones), which makes the newest change of a row its state. So:

- a change with a newer change of the same (table, row_id) in its stream is *superseded* and deleted. No
  cursor needs refetching for that: a device whose cursor is below the deleted change is also below the newer
  one, and pulls it; the newer change's effect includes the deleted one's.
- a row's newest change, when it is a DELETE older than ``tombstone_days``, is a dropped *tombstone*. A device
  whose cursor is below it and that holds the row would never learn of the delete. So the stream's horizon
  (``sync_horizons``) is raised to the highest dropped tombstone, and pulls with ``0 < cursor < horizon``
  are told to refetch from 0 (409 ``must-refetch``).

A stream (app, user) is compacted in batches of ``batch`` changes, each its own transaction holding the
stream's advisory lock (the one pushes take), so a push and a compaction batch never interleave, a push waits
at most one batch, and a tombstone's deletion and the horizon that covers it commit together.

Pushes must never wait long behind compaction, whatever the planner does: each batch runs under a statement
timeout (``batch_seconds``); a batch that runs out is retried at half the size, down to ``MIN_BATCH``, and
then the stream is left for the next run. Before it starts, compaction runs ``ANALYZE sync_log`` when the
table has no statistics or most of it changed since the last (after a restore or a bulk import the planner
would otherwise pick a nested loop: seconds per batch instead of milliseconds).

``compact(pool, tombstone_days=, app_id=None)`` compacts every stream (or the app's) and returns a
``CompactionReport``. docs/sync_keys_compaction.md has the reasoning at length.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.metrics import Metrics
from mnwd.sync import queries
from mnwd.sync.streams import stream_lock_key

__all__ = ["DEFAULT_BATCH", "CompactionReport", "StreamCompaction", "compact", "compact_stream"]

log = logging.getLogger(__name__)

DEFAULT_BATCH = 5000
MIN_BATCH = 100
# A push waits at most this long (plus a lock round trip) behind one compaction batch.
BATCH_SECONDS = 2.0


@dataclass(frozen=True)
class StreamCompaction:
    """What one pass over one stream did. ``horizon`` is the stream's new horizon when it moved, else None."""

    superseded: int = 0
    tombstones: int = 0
    horizon: int | None = None

    @property
    def deleted(self) -> int:
        return self.superseded + self.tombstones


@dataclass(frozen=True)
class CompactionReport:
    streams: int = 0
    superseded: int = 0
    tombstones: int = 0
    horizons: int = 0

    @property
    def deleted(self) -> int:
        return self.superseded + self.tombstones

    def add(self, stream: StreamCompaction) -> CompactionReport:
        return CompactionReport(
            streams=self.streams + 1,
            superseded=self.superseded + stream.superseded,
            tombstones=self.tombstones + stream.tombstones,
            horizons=self.horizons + (stream.horizon is not None),
        )

    def summary(self) -> str:
        return (
            f"compacted {self.streams} streams: {self.deleted} rows deleted "
            f"({self.superseded} superseded, {self.tombstones} tombstones), {self.horizons} new horizons"
        )


async def compact_stream(
    pool: asyncpg.Pool,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    tombstone_days: int,
    batch: int = DEFAULT_BATCH,
    metrics: Metrics | None = None,
    batch_seconds: float = BATCH_SECONDS,
) -> StreamCompaction:
    """One pass over the changes the stream has now; changes pushed meanwhile wait for the next pass."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    lock_key = stream_lock_key(app_id, user_id)
    upto = await queries.get_stream_head(pool, app_id, user_id)
    after = 0
    superseded = tombstones = 0
    horizon: int | None = None

    async def one_batch(tx: Tx) -> tuple[asyncpg.Record, int | None]:
        await queries.set_local_statement_timeout(tx.conn, batch_seconds)
        await queries.lock_stream(tx.conn, lock_key)
        row = await queries.delete_compacted_changes(
            tx.conn, app_id, user_id, after_seq=after, upto_seq=upto, limit=batch, tombstone_days=tombstone_days
        )
        if row["horizon"] is None:
            return row, None
        return row, await queries.upsert_horizon(tx.conn, app_id, user_id, row["horizon"])

    while after < upto:
        try:
            row, in_force = await run_tx(pool, "sync.compact", one_batch, metrics=metrics)
        except asyncpg.QueryCanceledError:
            if batch <= MIN_BATCH:
                log.warning(
                    "sync compaction left a stream for the next run: its batches run too long",
                    extra={"app_id": str(app_id), "user_id": str(user_id), "batch": batch},
                )
                break
            batch = max(batch // 2, MIN_BATCH)
            continue
        superseded += row["superseded"]
        tombstones += row["tombstones"]
        if in_force is not None:
            horizon = in_force
        if row["examined"] < batch:
            break
        after = row["examined_upto"]
    return StreamCompaction(superseded=superseded, tombstones=tombstones, horizon=horizon)


async def compact(
    pool: asyncpg.Pool,
    *,
    tombstone_days: int,
    app_id: uuid.UUID | None = None,
    batch: int = DEFAULT_BATCH,
    metrics: Metrics | None = None,
    batch_seconds: float = BATCH_SECONDS,
) -> CompactionReport:
    """Compact every stream, or only those of ``app_id``; a stream's batches never hold a lock on another."""
    if tombstone_days < 1:
        raise ValueError("tombstone_days must be at least 1")
    if app_id is None:
        streams = await queries.list_streams(pool)
    else:
        streams = [(app_id, user_id) for user_id in await queries.list_stream_users(pool, app_id)]
    if await queries.sync_log_needs_analyze(pool):
        log.info("analyzing sync_log before compaction: its statistics are missing or stale")
        await queries.analyze_sync_log(pool)
    report = CompactionReport()
    for stream_app_id, user_id in streams:
        done = await compact_stream(
            pool,
            stream_app_id,
            user_id,
            tombstone_days=tombstone_days,
            batch=batch,
            metrics=metrics,
            batch_seconds=batch_seconds,
        )
        report = report.add(done)
        if done.deleted:
            log.debug(
                "sync stream compacted",
                extra={
                    "app_id": str(stream_app_id),
                    "user_id": str(user_id),
                    "superseded": done.superseded,
                    "tombstones": done.tombstones,
                    "horizon": done.horizon,
                },
            )
    return report
