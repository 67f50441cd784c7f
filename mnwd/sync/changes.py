"""Push and pull: the change log of a stream (app, user), read by a cursor on ``sync_log.seq``.

Push takes the stream's advisory lock before it takes ``seq`` values, so within a stream rows commit in
``seq`` order and a reader that saw seq N has seen every row of the stream below N. The device's last
applied ``mutation_id`` is written in the same transaction as its mutations, so a retried batch applies
nothing twice. All of it is one call of the ``sync_push`` database function (migration 0015): one round trip.
The poke it returns is announced after the commit (`ChangeNotifier.announce`), never from inside it.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import msgspec

from mnwd.db.lane import Lane
from mnwd.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from mnwd.jsonchecks import numbers_problem
from mnwd.oauth import Bearer
from mnwd.services import ServiceKey
from mnwd.sync import queries
from mnwd.sync.notifier import POKE_CHANGES_MAX_BYTES, ChangeNotifier, poke_prefix
from mnwd.sync.readahead import PageKey, ReadAhead
from mnwd.sync.settings import SyncSettings
from mnwd.sync.streams import stream_lock_key

__all__ = ["MustRefetch", "PushIn", "pull", "push"]

TABLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# \u0000 as an escape in JSON text: preceded by an even number of backslashes (or none).
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# A number with an exponent, perhaps (it may be inside a string: then a parse tells).
OPERATIONS = frozenset({"INSERT", "UPDATE", "DELETE"})
MAX_ROW_ID = 256
# mutation_id is a PostgreSQL bigint.
MAX_MUTATION_ID = 2**63 - 1
MAX_PULL_LIMIT = 1000
MAX_WAIT_SECONDS = 60.0


class MutationIn(msgspec.Struct):
    mutation_id: int
    table: str
    op: str
    row_id: str
    # Raw keeps the client's JSON bytes as they are (ciphertext and all); a missing field reads as null.
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    client_timestamp: str | None = None


class PushIn(msgspec.Struct):
    device_id: uuid.UUID
    mutations: list[MutationIn]


class MutationResult(msgspec.Struct, omit_defaults=True):
    mutation_id: int
    status: Literal["applied", "duplicate", "rejected"]
    seq: int | None = None
    error: str | None = None


class PushOut(msgspec.Struct):
    results: list[MutationResult]
    last_mutation_id: int
    cursor: int | None


class MustRefetch(Problem):
    status = 409
    slug = "must-refetch"

    def __init__(self, horizon: int) -> None:
        super().__init__(
            "Changes before this cursor were compacted away. Drop the local copy and pull again from cursor=0.",
            horizon=horizon,
            refetch_from=0,
        )


@dataclass(slots=True)
class _Checked:
    mutation: MutationIn
    data: str | None
    client_timestamp: datetime | None


@functools.lru_cache(maxsize=1024)
def _table_name_ok(table: str) -> bool:
    """An app uses a handful of table names: each is matched once, not once per mutation."""
    return TABLE_PATTERN.fullmatch(table) is not None


def _problem_with(mutation: MutationIn, max_bytes: int) -> str | _Checked:
    """Why this one mutation is rejected, or the values to store. (Run for every mutation of every push: the
    common case, an object without NUL escapes or exponents, is tested first and cheaply.)"""
    op = mutation.op
    if op not in OPERATIONS:
        return "op must be INSERT, UPDATE or DELETE"
    if not _table_name_ok(mutation.table):
        return "table must match ^[a-z][a-z0-9_]{0,62}$"
    row_id = mutation.row_id
    if not row_id or len(row_id) > MAX_ROW_ID:
        return f"row_id must be 1 to {MAX_ROW_ID} characters"
    if "\x00" in row_id:
        return "row_id must not hold a NUL character"
    data: str | None = None
    # msgspec.Raw holds the value's own bytes, without the whitespace around it.
    raw = bytes(mutation.data)
    if raw == b"null":
        if op != "DELETE":
            return "data is required for INSERT and UPDATE"
    elif len(raw) > max_bytes:
        return f"data is larger than {max_bytes} bytes"
    elif raw[:1] != b"{":
        return "data must be a JSON object"
    else:
        if b"\\u0000" in raw and NUL_ESCAPE.search(raw):
            return "data must not hold a NUL character (\\u0000): PostgreSQL's jsonb cannot store it"
        problem = numbers_problem(raw, max_bytes)
        if problem is not None:
            return problem
        data = raw.decode()
    stamp = None
    if mutation.client_timestamp is not None:
        try:
            stamp = datetime.fromisoformat(mutation.client_timestamp)
        except ValueError:
            return "client_timestamp must be an RFC 3339 date-time"
        if stamp.tzinfo is None:
            return "client_timestamp needs a time zone offset"
        if stamp.year in (1, 9999):
            try:
                # Stored as timestamptz, that is in UTC: 0001-01-01T00:00+14:00 is before year 1 there.
                stamp.astimezone(UTC)
            except OverflowError:
                return "client_timestamp is out of range once in UTC (years 1 to 9999)"
    return _Checked(mutation, data, stamp)


def _fits_a_poke(valid: list[_Checked]) -> bool:
    """Whether the changes' JSON (about 250 bytes of envelope each) likely fits in a poke."""
    size = sum(250 + len(c.mutation.row_id) + len(c.data or "") for c in valid)
    return size <= POKE_CHANGES_MAX_BYTES


def check_batch(body: PushIn, config: SyncSettings) -> None:
    if not body.mutations:
        raise ValidationFailed("The batch is empty.", errors=[{"field": "mutations", "message": "Send at least one."}])
    if len(body.mutations) > config.max_batch:
        raise PayloadTooLarge(
            f"A push holds at most {config.max_batch} mutations; split the batch.", limit=config.max_batch
        )
    first = body.mutations[0].mutation_id
    for offset, mutation in enumerate(body.mutations):
        if mutation.mutation_id != first + offset:
            raise ValidationFailed(
                "mutation_id values must count up by one within a batch.",
                errors=[{"field": f"mutations[{offset}].mutation_id", "message": f"expected {first + offset}"}],
            )
    if first < 1:
        raise ValidationFailed(
            "mutation_id starts at 1.", errors=[{"field": "mutations[0].mutation_id", "message": "must be >= 1"}]
        )
    last = len(body.mutations) - 1
    if body.mutations[last].mutation_id > MAX_MUTATION_ID:
        raise ValidationFailed(
            f"mutation_id is at most {MAX_MUTATION_ID} (2^63 - 1).",
            errors=[{"field": f"mutations[{last}].mutation_id", "message": f"must be <= {MAX_MUTATION_ID}"}],
        )


PUSH_RETRY_AFTER_SECONDS = 1


class WaitingPushes:
    """Pushes running in this daemon, per stream (app, user). Pushes to one stream wait for each other on its
    advisory lock, each holding a connection of the push lane (`mnwd.db.lane`): past
    `SyncSettings.max_waiting_pushes` more are turned away, so one blocked stream cannot take the whole lane."""

    def __init__(self) -> None:
        self._running: dict[tuple[uuid.UUID, uuid.UUID], int] = {}

    def running(self, stream: tuple[uuid.UUID, uuid.UUID]) -> int:
        return self._running.get(stream, 0)

    @contextmanager
    def admit(self, stream: tuple[uuid.UUID, uuid.UUID], most: int) -> Iterator[None]:
        if self.running(stream) >= most:
            raise TooManyRequests(
                "Too many pushes to this stream are waiting; retry shortly.", retry_after=PUSH_RETRY_AFTER_SECONDS
            )
        self._running[stream] = self.running(stream) + 1
        try:
            yield
        finally:
            left = self._running[stream] - 1
            if left:
                self._running[stream] = left
            else:
                del self._running[stream]


WAITING_PUSHES = ServiceKey("sync.waiting_pushes", WaitingPushes)


async def push(
    db: asyncpg.Pool | Lane,
    notifier: ChangeNotifier,
    config: SyncSettings,
    bearer: Bearer,
    body: PushIn,
    waiting: WaitingPushes,
) -> PushOut:
    check_batch(body, config)
    if bearer.device_id is not None and bearer.device_id != body.device_id:
        raise Forbidden("This access token belongs to another device.")
    with waiting.admit((bearer.app_id, bearer.user_id), config.max_waiting_pushes):
        try:
            return await _push(db, notifier, config, bearer, body)
        except asyncpg.LockNotAvailableError:
            # lock_timeout (MNWD_DB_LOCK_TIMEOUT): the stream stayed locked too long.
            raise ServiceUnavailable(
                "This stream is busy; retry shortly.", retry_after=PUSH_RETRY_AFTER_SECONDS
            ) from None


async def _push(
    db: asyncpg.Pool | Lane, notifier: ChangeNotifier, config: SyncSettings, bearer: Bearer, body: PushIn
) -> PushOut:
    checked = [(m, _problem_with(m, config.max_mutation_bytes)) for m in body.mutations]
    valid = [c for _, c in checked if isinstance(c, _Checked)]
    first, last_in_batch = body.mutations[0].mutation_id, body.mutations[-1].mutation_id
    written = await queries.push_changes(
        db,
        (bearer.app_id, bearer.user_id, body.device_id, stream_lock_key(bearer.app_id, bearer.user_id)),
        (first, last_in_batch),
        (
            [c.mutation.mutation_id for c in valid],
            [c.mutation.table for c in valid],
            [c.mutation.op for c in valid],
            [c.mutation.row_id for c in valid],
            [c.data for c in valid],
            [c.client_timestamp for c in valid],
        ),
        (poke_prefix(bearer.app_id, bearer.user_id), _fits_a_poke(valid), POKE_CHANGES_MAX_BYTES),
    )
    if written["poke"] is not None:
        notifier.announce(written["poke"], written["bearer_epoch"])
    outcome, last = written["outcome"], written["device_last"]
    if outcome == "no-device":
        raise NotFound("There is no such device; register it first.")
    if outcome == "revoked":
        raise Forbidden("This device was revoked.")
    if outcome == "gap":
        raise Conflict(
            f"mutation_id {first} skips ahead: the next one expected from this device is {last + 1}.",
            slug="mutation-gap",
            expected_mutation_id=last + 1,
        )
    seqs = dict(zip(written["mutation_ids"] or (), written["seqs"] or (), strict=True))
    results: list[MutationResult] = []
    for mutation, check in checked:
        if mutation.mutation_id <= last:
            results.append(MutationResult(mutation.mutation_id, "duplicate"))
        elif isinstance(check, str):
            results.append(MutationResult(mutation.mutation_id, "rejected", error=check))
        else:
            results.append(MutationResult(mutation.mutation_id, "applied", seq=seqs[mutation.mutation_id]))
    newest = max(seqs.values(), default=None)
    return PushOut(results=results, last_mutation_id=max(last, last_in_batch), cursor=newest)


@dataclass(frozen=True)
class PullQuery:
    cursor: int
    limit: int
    wait: float
    exclude_own: bool
    device_id: uuid.UUID | None


@dataclass(frozen=True)
class PullPage:
    """A page of the stream; ``changes`` is the JSON of its changes, comma-separated, as PostgreSQL wrote it."""

    changes: bytes
    count: int
    cursor: int
    has_more: bool
    last_mutation_id: int | None

    def to_json(self) -> bytes:
        """``{"changes": [...], "cursor": N, "has_more": B, "last_mutation_id": M}``."""
        tail = msgspec.json.encode(
            {"cursor": self.cursor, "has_more": self.has_more, "last_mutation_id": self.last_mutation_id}
        )
        return b'{"changes":[' + self.changes + b"]," + tail[1:]


async def pull(
    pool: asyncpg.Pool,
    lane: asyncpg.Pool | Lane,
    notifier: ChangeNotifier,
    readahead: ReadAhead,
    bearer: Bearer,
    query: PullQuery,
) -> PullPage:
    """A page of the stream after ``query.cursor``, read by one statement on ``lane`` (the pool serves the rare
    write); with ``query.wait``, waits that long for a change when there is none."""
    device_id = query.device_id or bearer.device_id
    own = device_id if query.exclude_own else None

    def reader(cursor: int) -> Callable[[], Awaitable[asyncpg.Record]]:
        async def read() -> asyncpg.Record:
            return await queries.pull_page(lane, bearer.app_id, bearer.user_id, device_id, cursor, query.limit, own)

        return read

    def key(cursor: int) -> PageKey:
        return (bearer.app_id, bearer.user_id, device_id, cursor, query.limit, own)

    found = await readahead.take(key(query.cursor))
    if query.wait > 0 and (found is None or found["last_seq"] is None):
        async with notifier.watch(bearer.app_id, bearer.user_id) as watch:
            found = await reader(query.cursor)()
            _check_device(query, found)
            watch.known(found["last_seq"] or query.cursor)
            if found["last_seq"] is None and await watch.wait(query.wait):
                found = await reader(query.cursor)()
    elif found is None:
        found = await reader(query.cursor)()
    _check_device(query, found)
    horizon = found["horizon_seq"] or 0
    if device_id is not None and query.cursor == 0 and horizon and found["refetch_horizon"] != horizon:
        await queries.update_refetch_horizon(pool, bearer.app_id, bearer.user_id, device_id, horizon)
    elif 0 < query.cursor < horizon and found["refetch_horizon"] != horizon:
        raise MustRefetch(horizon)
    has_more: bool = found["has_more"]
    cursor = found["last_seq"] or query.cursor
    if has_more:
        readahead.start(key(cursor), reader(cursor), lambda page: len(page["changes"] or b""))
    else:
        # Nothing is left between the cursor and the horizon: move past it so the next pull is not refused.
        cursor = max(cursor, horizon)
    changes = found["changes"] or b""
    return PullPage(
        changes=changes,
        count=found["sent"],
        cursor=cursor,
        has_more=has_more,
        last_mutation_id=found["last_mutation_id"],
    )


def _check_device(query: PullQuery, found: asyncpg.Record) -> None:
    """A ``device_id`` from the request must be one of the caller's own devices in this app."""
    if query.device_id is not None and found["device_id"] is None:
        raise NotFound("There is no such device.")


def pull_query(params: Any) -> PullQuery:
    """Parse ``cursor``, ``limit``, ``wait``, ``exclude_own``, ``device_id`` with per-field errors."""
    errors: list[dict[str, str]] = []

    def number(name: str, default: str, low: float, high: float, kind: type[int] | type[float]) -> Any:
        raw = params.get(name, default)
        try:
            value = kind(raw)
        except ValueError:
            errors.append({"field": name, "message": f"must be a number from {low:g} to {high:g}"})
            return kind(default)
        if not low <= value <= high:
            errors.append({"field": name, "message": f"must be from {low:g} to {high:g}"})
        return value

    cursor = number("cursor", "0", 0, 2**63 - 1, int)
    limit = number("limit", "500", 1, MAX_PULL_LIMIT, int)
    wait = number("wait", "0", 0, MAX_WAIT_SECONDS, float)
    exclude_own = params.get("exclude_own", "0") in {"1", "true", "yes"}
    device_id = None
    if "device_id" in params:
        try:
            device_id = uuid.UUID(params["device_id"])
        except ValueError:
            errors.append({"field": "device_id", "message": "must be a UUID"})
    if errors:
        raise ValidationFailed("The pull parameters are not valid.", errors=errors)
    return PullQuery(cursor=cursor, limit=limit, wait=wait, exclude_own=exclude_own, device_id=device_id)


async def newest_seq(pool: asyncpg.Pool, bearer: Bearer) -> int:
    return await queries.get_stream_head(pool, bearer.app_id, bearer.user_id)
