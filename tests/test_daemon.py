from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from mnwd.app import create_app
from mnwd.config import Config
from mnwd.daemon import serve
from mnwd.services import Services
from tests.support import forkserver
from tests.support.daemon import RunningDaemon, daemon_env, free_port, start_daemon


async def test_sigterm_drains_in_flight_requests_then_closes(config: Config) -> None:
    config = dataclasses.replace(config, http_port=free_port(), shutdown_timeout=10.0)
    seen: dict[str, object] = {}
    started = asyncio.Event()
    ready = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(1.0)
        return web.json_response({"finished": True})

    def factory(services: Services) -> web.Application:
        app = create_app(services)
        app.router.add_get("/test/slow", slow)
        return app

    def on_ready(services: Services, port: int) -> None:
        seen["services"] = services
        seen["port"] = port
        ready.set()

    server = asyncio.create_task(serve(config, ready=on_ready, app_factory=factory))
    await asyncio.wait_for(ready.wait(), 30)
    base = f"http://127.0.0.1:{seen['port']}"
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(session.get(base + "/test/slow"))
        await asyncio.wait_for(started.wait(), 5)
        os.kill(os.getpid(), signal.SIGTERM)
        response = await asyncio.wait_for(in_flight, 10)
        assert response.status == 200
        assert await response.json() == {"finished": True}
        await asyncio.wait_for(server, 15)
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(base + "/healthz")
    services = seen["services"]
    assert isinstance(services, Services)
    assert services.pool.is_closing()


@pytest.mark.e2e
def test_serve_with_embedded_postgres_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"

    def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return forkserver.run(
            [sys.executable, "-m", "mnwd", *args], env=env, capture_output=True, text=True, timeout=60
        )

    first = start_daemon(data_dir)
    try:
        url = run_cli(first.env, "db-url")
        assert url.returncode == 0, url.stderr
        db_url = url.stdout.strip()
        assert db_url.startswith("postgresql://")
        asyncio.run(_insert_user(db_url))
        pgdata = data_dir / "pg"
        postmaster = (pgdata / "postmaster.pid").read_text()
        handles = (pgdata / ".handle_pids.json").read_text()
        # Commands use the daemon's server as it is: not joined (so they cannot stop it), no second one.
        listed = run_cli(first.env, "user", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stderr == ""
        assert "survivor" in listed.stdout
        assert (pgdata / "postmaster.pid").read_text() == postmaster
        assert (pgdata / ".handle_pids.json").read_text() == handles
        assert urllib.request.urlopen(first.base_url + "/readyz", timeout=5).status == 200
    finally:
        assert first.stop() == 0
    assert "mnwd stopped" in first.log()
    assert not _postgres_running(data_dir / "pg")
    not_running = run_cli(first.env, "db-url")
    assert not_running.returncode == 1
    assert "is not running" in not_running.stderr
    alone = run_cli(first.env, "user", "list")  # with no daemon: its own server, stopped when it is done
    assert (alone.returncode, alone.stderr) == (0, ""), alone.stderr
    assert "survivor" in alone.stdout
    assert not _postgres_running(data_dir / "pg")

    second = start_daemon(data_dir)
    try:
        db_url = run_cli(second.env, "db-url").stdout.strip()
        assert asyncio.run(_count_users(db_url)) == 1
    finally:
        assert second.stop() == 0
    assert not _postgres_running(data_dir / "pg")


async def _insert_user(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO users (username, email, password_hash) VALUES ('survivor', 'survivor@example.org', 'x')"
        )
    finally:
        await conn.close()


async def _count_users(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM users WHERE username = 'survivor'")
        return count
    finally:
        await conn.close()


def _postgres_running(pgdata: Path) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not (pgdata / "postmaster.pid").exists():
            return False
        time.sleep(0.1)
    return True


@pytest.mark.e2e
def test_a_port_in_use_is_one_clear_line(tmp_path: Path, db_url: str) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_HTTP_PORT": str(port)})
        result = forkserver.run(
            [sys.executable, "-m", "mnwd", "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mnwd: cannot listen on 127.0.0.1:")
    assert "address already in use" in last.lower()


@pytest.mark.e2e
def test_running_daemon_answers_and_stops_on_sigint(daemon: RunningDaemon) -> None:
    import urllib.request

    with urllib.request.urlopen(daemon.base_url + "/readyz", timeout=5) as response:
        assert response.status == 200
    assert daemon.stop(signal.SIGINT) == 0
    log = daemon.log()
    assert "mnwd stopped" in log
    assert '"logger":"mnwd.access"' in log
    assert "aiohttp.access" not in log


async def test_the_daemon_runs_queued_jobs_and_its_periodic_tasks(config: Config) -> None:
    """A verification mail queued before the daemon started is sent by it (the jobs loop runs); the domains'
    periodic tasks (here the expired-state sweep) run at start."""
    config = dataclasses.replace(config, http_port=free_port(), shutdown_timeout=5.0)
    assert config.database_url is not None
    conn = await asyncpg.connect(config.database_url)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (username, email) VALUES ('alice', 'alice@example.org') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO jobs (kind, payload)"
            " VALUES ('accounts.verification_mail', jsonb_build_object('user_id', $1::text))",
            str(user_id),
        )
        await conn.execute("INSERT INTO web_sessions (id, expiry_date) VALUES ('gone', now() - interval '1 minute')")
    finally:
        await conn.close()
    ready = asyncio.Event()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, ready=lambda services, port: ready.set(), stop=stop))
    await asyncio.wait_for(ready.wait(), 30)
    outbox = config.data_dir / "outbox"
    try:
        for _ in range(200):
            if outbox.exists() and any(outbox.iterdir()):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(server, 15)
    assert outbox.exists()
    assert any(outbox.iterdir()), "the queued mail was not sent within 20 s"
    conn = await asyncpg.connect(config.database_url)
    try:
        assert await conn.fetchval("SELECT state FROM jobs") == "done"
        assert await conn.fetchval("SELECT count(*) FROM web_sessions") == 0
    finally:
        await conn.close()
