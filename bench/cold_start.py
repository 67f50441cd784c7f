"""Cold start: seconds from spawning ``python -m mnwd serve`` (against an embedded PostgreSQL already running,
its database migrated) until ``GET /readyz`` first answers 200, in alternating rounds against a bare aiohttp
app started the same way (`BARE`, run with ``python -c``: it imports aiohttp and asyncpg only, opens one
connection, and answers ``/readyz`` with a ``SELECT 1``): the Python start floor of a server that checks its
database. Both are polled every `POLL_SECONDS` from this process; each start is stopped with
SIGTERM and waited for before the next. One start of each first, untimed (bytecode caches, the data
directory's first-run files); with ``--quick`` only one timed start of each.

Both write and read their bytecode caches under the run's temporary directory (``PYTHONPYCACHEPREFIX``), even
where the environment says ``PYTHONDONTWRITEBYTECODE``: without caches every start compiled mnwd's 300 modules
from source (half a second and more, which an installed mnwd never pays: pip compiles them), while the bare
app's libraries came compiled from site-packages.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from bench.fixtures import free_port, mnwd_serve_argv, subprocess_server, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate

POLL_SECONDS = 0.005
START_TIMEOUT = 60.0


async def _start(argv: list[str], env: dict[str, str], port: int, log: Path) -> float:
    """Seconds from spawning ``argv`` to its first 200 on /readyz; the process is stopped before returning."""
    async with subprocess_server(argv, env, port, log, path="/readyz", poll=POLL_SECONDS, within=START_TIMEOUT) as (
        _pid,
        seconds,
    ):
        return seconds


async def run(options: Options) -> list[Result]:
    async with sync_stack(options, serve_here=False) as stack:
        mnwd_port, bare_port = free_port(), free_port()
        env = {
            "DATABASE_URL": stack.db_url,
            "MNWD_HTTP_PORT": str(mnwd_port),
            "MNWD_SSH_PORT": str(free_port()),  # the git SSH server's: not the default, maybe in use
            "MNWD_DATA_DIR": str(stack.tmp / "serve"),
            "MNWD_LOG_LEVEL": "warning",
            "MNWD_SHUTDOWN_TIMEOUT": "2",
        }
        bytecode = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(stack.tmp / "pycache")}
        bare = [sys.executable, "-c", BARE, str(bare_port), stack.db_url]

        async def mnwd_start() -> float:
            return await _start(mnwd_serve_argv(), {**env, **bytecode}, mnwd_port, stack.tmp / "serve.log")

        async def bare_start() -> float:
            return await _start(bare, bytecode, bare_port, stack.tmp / "bare.log")

        if options.quick:  # a start takes seconds here: one of each, no warm-up, keeps --quick short
            options = dataclasses.replace(options, rounds=1)
        else:
            await mnwd_start()
            await bare_start()
        measured, baseline = await alternate(options, [mnwd_start, bare_start])
    return [Result("cold start to first 200 on /readyz", "s", measured, "bare aiohttp + asyncpg", baseline)]


# The bare server, run with ``python -c`` so that it imports nothing of bench or mnwd: one asyncpg connection,
# /readyz runs SELECT 1 on it.
BARE = """
import sys

import asyncpg
from aiohttp import web

port, database_url = int(sys.argv[1]), sys.argv[2]
connection = []

async def connect(app):
    connection.append(await asyncpg.connect(database_url))

async def close(app):
    await connection[0].close()

async def readyz(request):
    await connection[0].fetchval("SELECT 1")
    return web.json_response({"status": "ready"})

app = web.Application()
app.on_startup.append(connect)
app.on_cleanup.append(close)
app.router.add_get("/readyz", readyz)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, shutdown_timeout=1.0)
"""
