"""The local store: one SQLite file in WAL mode with ``synchronous=FULL``.

Tables:

- ``server_rows(tbl, row_id, data, seq)``: the server's rows as of the cursor (plaintext, decrypted on pull);
- ``outbox(mutation_id, tbl, row_id, kind, value, …, state, seq, error)``: every local write, numbered by the
  device's counter at write time and never renumbered (except after ``mutation-gap``, see `renumber`).
  ``state`` is ``pending`` (not acknowledged), ``acked`` (the server has it; kept, with its ``seq`` when the
  server said it, until a pull brings that seq in) or ``rejected`` (the conflict inbox);
- ``rows(tbl, row_id, data)``: what the app reads: each server row with its pending and acknowledged-but-not-
  yet-pulled outbox entries laid over it in mutation order (a ``put`` replaces the row, a ``patch`` sets its
  fields, a ``delete`` removes it), or what the table's conflict resolver makes of the two;
- ``meta``: ``cursor``, ``next_mutation_id``, ``device_id``; ``blob_uploads``: uploads not finished yet.

Races handled: every access goes through one thread and one connection, and every change (a local write and
its outbox entry; a pulled page and its cursor; a push's results) commits in one transaction, so a crash leaves
either all of it or none. A batch sent again after a crash carries the same mutation ids, which the server
answers as ``duplicate``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = ["Change", "LocalWrite", "Outgoing", "Rejected", "Resolver", "Row", "Store"]

T = TypeVar("T")
Data = dict[str, Any]
Resolver = Callable[[Data | None, Data | None], Data | None]
"""``(server_row, local_row) -> row``: what the app sees while local changes of a row are not yet pulled back."""

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_rows (
    tbl TEXT NOT NULL, row_id TEXT NOT NULL, data TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (tbl, row_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rows (
    tbl TEXT NOT NULL, row_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (tbl, row_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    mutation_id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('put', 'patch', 'delete')),
    value TEXT,
    client_timestamp TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'rejected')),
    seq INTEGER,
    error TEXT);
CREATE INDEX IF NOT EXISTS outbox_row ON outbox (tbl, row_id, mutation_id);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, mutation_id);
CREATE TABLE IF NOT EXISTS blob_uploads (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, content_type TEXT NOT NULL, added_at TEXT NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Row:
    row_id: str
    data: Data


@dataclass(frozen=True)
class LocalWrite:
    kind: Literal["put", "patch", "delete"]
    table: str
    row_id: str
    value: Data | None


@dataclass(frozen=True)
class Outgoing:
    """One outbox entry as the push sends it: ``data`` is the whole row (server row + earlier entries)."""

    mutation_id: int
    table: str
    row_id: str
    op: str
    data: Data | None
    client_timestamp: str


@dataclass(frozen=True)
class Rejected:
    mutation_id: int
    table: str
    row_id: str
    kind: str
    value: Data | None
    error: str


@dataclass(frozen=True)
class Change:
    """A pulled change with ``data`` already decrypted."""

    seq: int
    table: str
    op: str
    row_id: str
    data: Data | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fold(base: Data | None, entries: Iterable[tuple[str, str | None]]) -> Data | None:
    row = base
    for kind, value in entries:
        if kind == "delete":
            row = None
        elif kind == "put":
            row = json.loads(value) if value is not None else None
        else:
            row = {**(row or {}), **(json.loads(value) if value is not None else {})}
    return row


class Store:
    def __init__(self, path: str | Path, resolvers: dict[str, Resolver] | None = None) -> None:
        self.path = Path(path)
        self.resolvers = resolvers if resolvers is not None else {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnw-synckit-store")
        self._db: sqlite3.Connection | None = None

    # -- plumbing ---------------------------------------------------------------------------------------------

    async def open(self) -> None:
        await self.call(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self.call(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        assert self._db is not None
        self._db.close()
        self._db = None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is closed")
        return self._db

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    # -- meta -------------------------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._put_meta(key, value)

    def _put_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def cursor(self) -> int:
        return int(self.meta("cursor", "0") or 0)

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, table: str, row_id: str) -> Data | None:
        row = self.db.execute("SELECT data FROM rows WHERE tbl = ? AND row_id = ?", (table, row_id)).fetchone()
        return json.loads(row[0]) if row else None

    def query(self, table: str, where: Data | None = None) -> list[Row]:
        sql = "SELECT row_id, data FROM rows WHERE tbl = ?"
        params: list[Any] = [table]
        for field, value in (where or {}).items():
            if not FIELD.match(field):
                raise ValueError(f"not a field name: {field!r}")
            path = f'$."{field}"'
            if value is None:
                sql += " AND json_extract(data, ?) IS NULL"
                params.append(path)
            elif isinstance(value, dict | list):
                sql += " AND json_extract(data, ?) = json(?)"
                params += [path, _dumps(value)]
            else:
                sql += " AND json_extract(data, ?) = ?"
                params += [path, value]
        sql += " ORDER BY row_id"
        return [Row(row_id, json.loads(data)) for row_id, data in self.db.execute(sql, params)]

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    def rejected(self) -> list[Rejected]:
        rows = self.db.execute(
            "SELECT mutation_id, tbl, row_id, kind, value, error FROM outbox WHERE state = 'rejected' "
            "ORDER BY mutation_id"
        ).fetchall()
        return [Rejected(m, t, r, k, json.loads(v) if v else None, e or "") for m, t, r, k, v, e in rows]

    def dismiss(self, mutation_id: int) -> bool:
        with self._tx():
            gone = self.db.execute(
                "DELETE FROM outbox WHERE mutation_id = ? AND state = 'rejected'", (mutation_id,)
            ).rowcount
        return gone > 0

    # -- local writes -----------------------------------------------------------------------------------------

    def write(self, writes: list[LocalWrite]) -> set[str]:
        """The writes, their outbox entries and the next mutation id, in one transaction."""
        stamp = _now()
        with self._tx():
            next_id = int(self.meta("next_mutation_id", "1") or 1)
            entries = []
            for offset, write in enumerate(writes):
                value = None if write.value is None else _dumps(write.value)
                entries.append((next_id + offset, write.table, write.row_id, write.kind, value, stamp))
            self.db.executemany(
                "INSERT INTO outbox (mutation_id, tbl, row_id, kind, value, client_timestamp) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                entries,
            )
            if any(w.kind == "patch" or w.table in self.resolvers for w in writes):
                for write, entry in zip(writes, entries, strict=True):
                    self._show_write(write, entry[4])
            else:
                final = {(w.table, w.row_id): entry[4] for w, entry in zip(writes, entries, strict=True)}
                self.db.executemany(
                    "DELETE FROM rows WHERE tbl = ? AND row_id = ?", [k for k, v in final.items() if v is None]
                )
                self.db.executemany(
                    "INSERT OR REPLACE INTO rows (tbl, row_id, data) VALUES (?, ?, ?)",
                    [(t, r, v) for (t, r), v in final.items() if v is not None],
                )
            self._put_meta("next_mutation_id", str(next_id + len(writes)))
        return {w.table for w in writes}

    def _show_write(self, write: LocalWrite, value: str | None) -> None:
        """The visible row after a local write: without a resolver it is the visible row with the write laid
        over it, which saves folding the row's whole outbox again."""
        if write.table in self.resolvers:
            self._refresh_row(write.table, write.row_id)
        elif write.kind == "delete":
            self.db.execute("DELETE FROM rows WHERE tbl = ? AND row_id = ?", (write.table, write.row_id))
        else:
            if write.kind == "patch":
                shown = self.db.execute(
                    "SELECT data FROM rows WHERE tbl = ? AND row_id = ?", (write.table, write.row_id)
                ).fetchone()
                value = _dumps(_fold(json.loads(shown[0]) if shown else None, [("patch", value)]))
            self.db.execute(
                "INSERT OR REPLACE INTO rows (tbl, row_id, data) VALUES (?, ?, ?)", (write.table, write.row_id, value)
            )

    # -- push -------------------------------------------------------------------------------------------------

    def outgoing(self, limit: int, after: int = 0) -> list[Outgoing]:
        """The first ``limit`` pending entries above ``after``, each with the whole row it leaves (the server row
        with the row's earlier entries and itself laid over it): two queries for the batch, folded here."""
        pending = self.db.execute(
            "SELECT mutation_id FROM outbox WHERE state = 'pending' AND mutation_id > ? ORDER BY mutation_id LIMIT ?",
            (after, limit),
        ).fetchall()
        if not pending:
            return []
        first, last = pending[0][0], pending[-1][0]
        batch_rows = "SELECT DISTINCT tbl, row_id FROM outbox WHERE state = 'pending' AND mutation_id BETWEEN ? AND ?"
        rows: dict[tuple[str, str], Data | None] = {
            (t, r): json.loads(d)
            for t, r, d in self.db.execute(
                f"SELECT s.tbl, s.row_id, s.data FROM ({batch_rows}) b "
                "JOIN server_rows s ON s.tbl = b.tbl AND s.row_id = b.row_id",
                (first, last),
            )
        }
        entries = self.db.execute(
            "SELECT o.mutation_id, o.tbl, o.row_id, o.kind, o.value, o.state, o.client_timestamp "
            f"FROM ({batch_rows}) b JOIN outbox o ON o.tbl = b.tbl AND o.row_id = b.row_id "
            "WHERE o.state IN ('pending', 'acked') AND o.mutation_id <= ? ORDER BY o.mutation_id",
            (first, last, last),
        ).fetchall()
        batch: list[Outgoing] = []
        for mutation_id, table, row_id, kind, value, state, stamp in entries:
            key = (table, row_id)
            before = rows.get(key)
            row = _fold(before, [(kind, value)])
            rows[key] = row
            if state != "pending" or mutation_id < first:
                continue
            if kind == "delete":
                batch.append(Outgoing(mutation_id, table, row_id, "DELETE", None, stamp))
            else:
                op = "INSERT" if before is None else "UPDATE"
                batch.append(Outgoing(mutation_id, table, row_id, op, row or {}, stamp))
        return batch

    def record_push(self, results: list[dict[str, Any]]) -> tuple[list[Rejected], set[str]]:
        """The server's answer, in one transaction: applied and duplicate entries become ``acked`` (kept until
        their change is pulled back), rejected ones go to the conflict inbox."""
        rejected: list[Rejected] = []
        tables: set[str] = set()
        with self._tx():
            self.db.executemany(
                "UPDATE outbox SET state = 'acked', seq = ? WHERE mutation_id = ? AND state = 'pending'",
                [(r.get("seq"), int(r["mutation_id"])) for r in results if r["status"] != "rejected"],
            )
            for result in results:
                if result["status"] != "rejected":
                    continue
                mutation_id = int(result["mutation_id"])
                row = self.db.execute(
                    "SELECT tbl, row_id, kind, value FROM outbox WHERE mutation_id = ? AND state = 'pending'",
                    (mutation_id,),
                ).fetchone()
                if row is None:
                    continue
                error = str(result.get("error") or "rejected")
                self.db.execute(
                    "UPDATE outbox SET state = 'rejected', error = ? WHERE mutation_id = ?", (error, mutation_id)
                )
                self._refresh_row(row[0], row[1])
                tables.add(row[0])
                rejected.append(Rejected(mutation_id, row[0], row[1], row[2], json.loads(row[3] or "null"), error))
        return rejected, tables

    def renumber(self, expected: int) -> None:
        """After ``mutation-gap``: the server has every id below ``expected`` of this device and none of ours
        (they would have come back as duplicates), so the pending entries take ids from ``expected`` on."""
        with self._tx():
            pending = [
                r[0]
                for r in self.db.execute(
                    "SELECT mutation_id FROM outbox WHERE state = 'pending' ORDER BY mutation_id"
                ).fetchall()
            ]
            if not pending or pending[0] == expected:
                return
            offset = max(pending[-1], expected + len(pending)) + 1
            self.db.execute("UPDATE outbox SET mutation_id = -(mutation_id + ?) WHERE state = 'pending'", (offset,))
            for index, old in enumerate(pending):
                self.db.execute(
                    "UPDATE outbox SET mutation_id = ? WHERE mutation_id = ?", (expected + index, -(old + offset))
                )
            self._put_meta("next_mutation_id", str(expected + len(pending)))

    # -- pull -------------------------------------------------------------------------------------------------

    def apply(self, changes: list[Change], cursor: int, *, complete: bool, refetch: bool = False) -> set[str]:
        """A page of changes and its cursor in one transaction. ``complete``: nothing newer is left on the
        server, so acknowledged entries whose seq we never learnt (duplicates) are in ``server_rows`` now.
        ``refetch``: the first page of a pull from 0 after ``must-refetch``; the old server rows go."""
        with self._tx():
            refold: set[tuple[str, str]] = set()
            if refetch:
                refold.update(self.db.execute("SELECT tbl, row_id FROM rows").fetchall())
                refold.update(self.db.execute("SELECT tbl, row_id FROM server_rows").fetchall())
                self.db.execute("DELETE FROM server_rows")
            newest: dict[tuple[str, str], Change] = {}
            for change in changes:
                newest[(change.table, change.row_id)] = change
            gone = [(c.table, c.row_id) for c in newest.values() if c.op == "DELETE" or c.data is None]
            kept = [
                (c.table, c.row_id, _dumps(c.data), c.seq)
                for c in newest.values()
                if not (c.op == "DELETE" or c.data is None)
            ]
            self.db.executemany("DELETE FROM server_rows WHERE tbl = ? AND row_id = ?", gone)
            self.db.executemany("INSERT OR REPLACE INTO server_rows (tbl, row_id, data, seq) VALUES (?, ?, ?, ?)", kept)
            done = "state = 'acked' AND (seq IS NULL OR seq <= ?)" if complete else "state = 'acked' AND seq <= ?"
            refold.update(self.db.execute(f"SELECT tbl, row_id FROM outbox WHERE {done}", (cursor,)).fetchall())
            self.db.execute(f"DELETE FROM outbox WHERE {done}", (cursor,))
            # Rows with no local entries (the usual case) show the server row as it came; the others are folded.
            local = {
                key
                for key in self.db.execute(
                    "SELECT DISTINCT tbl, row_id FROM outbox WHERE state IN ('pending', 'acked')"
                )
            }
            plain_gone = [key for key in gone if key not in local and key not in refold]
            plain_kept = [(t, r, d) for t, r, d, _ in kept if (t, r) not in local and (t, r) not in refold]
            self.db.executemany("DELETE FROM rows WHERE tbl = ? AND row_id = ?", plain_gone)
            self.db.executemany("INSERT OR REPLACE INTO rows (tbl, row_id, data) VALUES (?, ?, ?)", plain_kept)
            tables = {t for t, _ in plain_gone} | {t for t, _, _ in plain_kept}
            for table, row_id in refold | (local & set(newest)):
                if self._refresh_row(table, row_id):
                    tables.add(table)
            self._put_meta("cursor", str(cursor))
        return tables

    # -- blob upload queue ------------------------------------------------------------------------------------

    def queue_upload(self, sha256: str, path: str, content_type: str) -> None:
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO blob_uploads (sha256, path, content_type, added_at) VALUES (?, ?, ?, ?)",
                (sha256, path, content_type, _now()),
            )

    def uploads(self) -> list[tuple[str, str, str]]:
        return [
            (s, p, c)
            for s, p, c in self.db.execute(
                "SELECT sha256, path, content_type FROM blob_uploads ORDER BY added_at"
            ).fetchall()
        ]

    def finish_upload(self, sha256: str) -> None:
        with self._tx():
            self.db.execute("DELETE FROM blob_uploads WHERE sha256 = ?", (sha256,))

    # -- the visible row --------------------------------------------------------------------------------------

    def _overlay(self, table: str, row_id: str, below: int | None = None) -> Data | None:
        server = self.db.execute(
            "SELECT data FROM server_rows WHERE tbl = ? AND row_id = ?", (table, row_id)
        ).fetchone()
        sql = "SELECT kind, value FROM outbox WHERE tbl = ? AND row_id = ? AND state IN ('pending', 'acked')"
        params: list[Any] = [table, row_id]
        if below is not None:
            sql += " AND mutation_id < ?"
            params.append(below)
        entries = self.db.execute(sql + " ORDER BY mutation_id", params).fetchall()
        base = json.loads(server[0]) if server else None
        local = _fold(base, entries)
        resolver = self.resolvers.get(table)
        if entries and resolver is not None and below is None:
            return resolver(base, local)
        return local

    def _refresh_row(self, table: str, row_id: str) -> bool:
        """Recompute what the app sees of one row; whether it changed."""
        row = self._overlay(table, row_id)
        old = self.db.execute("SELECT data FROM rows WHERE tbl = ? AND row_id = ?", (table, row_id)).fetchone()
        if row is None:
            if old is None:
                return False
            self.db.execute("DELETE FROM rows WHERE tbl = ? AND row_id = ?", (table, row_id))
            return True
        data = _dumps(row)
        if old is not None and old[0] == data:
            return False
        self.db.execute("INSERT OR REPLACE INTO rows (tbl, row_id, data) VALUES (?, ?, ?)", (table, row_id, data))
        return True


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
