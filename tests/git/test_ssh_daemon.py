"""The SSH server inside `mnwd serve`: started and stopped with the daemon, its host key kept across restarts,
a push in progress at SIGTERM completed, and a busy SSH port found before anything starts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import asyncpg
import pytest

from mnwd.git import keys
from mnwd.services import Services
from tests.git.conftest import GitUser, make_commits, run, write_key
from tests.support import forkserver
from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon, daemon_env, start_daemon


async def daemon_user(services: Services, make_user: MakeUser, tmp_path: Path, port: int) -> GitUser:
    row = await make_user("alice")
    home = tmp_path / "home-alice"
    home.mkdir(exist_ok=True)
    key = write_key(home / "id_ed25519")
    await keys.add_key(services, row["id"], key.export_public_key("openssh").decode())
    return GitUser("alice", row["id"], home / "id_ed25519", port, home)


async def host_key(port: int) -> str:
    scan = await run("ssh-keyscan", "-t", "ed25519", "-p", str(port), "127.0.0.1")
    lines = [line for line in scan.stdout.splitlines() if not line.startswith("#")]
    assert len(lines) == 1, scan.stderr
    return lines[0].split(" ", 1)[1]


async def start(data_dir: Path, db_url: str) -> RunningDaemon:
    return await asyncio.to_thread(start_daemon, data_dir, {"DATABASE_URL": db_url})


@pytest.mark.e2e
async def test_the_host_key_and_the_repos_survive_a_restart(
    db_url: str, services: Services, make_user: MakeUser, tmp_path: Path
) -> None:
    data_dir = tmp_path / "daemon"
    first = await start(data_dir, db_url)
    try:
        port = int(first.env["MNWD_SSH_PORT"])
        alice = await daemon_user(services, make_user, tmp_path, port)
        key_before = await host_key(port)
        head = await make_commits(alice, tmp_path / "site", 2)
        pushed = await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=tmp_path / "site")
        assert pushed.status == 0, pushed.stderr + first.log()
    finally:
        assert await asyncio.to_thread(first.stop) == 0
    assert (data_dir / "ssh" / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600

    second = await start(data_dir, db_url)
    try:
        port = int(second.env["MNWD_SSH_PORT"])
        alice.port = port
        assert await host_key(port) == key_before
        cloned = await alice.git("clone", "-q", alice.url("alice/site"), str(tmp_path / "clone"))
        assert cloned.status == 0, cloned.stderr
        assert (await alice.git("rev-parse", "HEAD", cwd=tmp_path / "clone")).stdout.strip() == head
    finally:
        assert await asyncio.to_thread(second.stop) == 0


def pkt(line: bytes) -> bytes:
    return f"{len(line) + 4:04x}".encode() + line


@pytest.mark.e2e
async def test_sigterm_lets_a_running_push_finish(
    db_url: str, services: Services, make_user: MakeUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    daemon = await start(tmp_path / "daemon", db_url)
    try:
        port = int(daemon.env["MNWD_SSH_PORT"])
        alice = await daemon_user(services, make_user, tmp_path, port)
        work = tmp_path / "site"
        await make_commits(alice, work, 1)
        (work / "big.bin").write_bytes(os.urandom(1_000_000))
        new = await make_commits(alice, work, 1)
        packer = await asyncio.create_subprocess_exec(
            "git",
            "pack-objects",
            "--stdout",
            "--revs",
            cwd=work,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        pack, _ = await packer.communicate(f"{new}\n".encode())
        command = pkt(f"{'0' * 40} {new} refs/heads/main\0report-status\n".encode()) + b"0000"

        client = await asyncio.create_subprocess_exec(
            *alice.ssh_args(),
            "git@127.0.0.1",
            "git-receive-pack 'alice/site'",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert client.stdin is not None
        assert client.stdout is not None
        assert (await client.stdout.read(4)) != b""  # the advertisement: git is running
        client.stdin.write(command + pack[: len(pack) // 2])
        await client.stdin.drain()
        await asyncio.sleep(0.3)
        daemon.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert daemon.process.poll() is None  # waiting for the push
        client.stdin.write(pack[len(pack) // 2 :])
        client.stdin.close()
        out, err = await asyncio.wait_for(client.communicate(), 20)
        assert b"ok refs/heads/main" in out, (out, err, daemon.log())
        assert await asyncio.to_thread(daemon.process.wait, 20) == 0
        assert await pool.fetchval("SELECT pushed_at IS NOT NULL FROM git_repos WHERE name = 'site'")
    finally:
        daemon.stop()


@pytest.mark.e2e
def test_a_busy_ssh_port_is_found_before_the_database_starts(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = daemon_env(tmp_path, {"MNWD_SSH_PORT": str(port)})
        # Forked from the warm fork server (what a fresh interpreter does, without its seconds of imports).
        result = forkserver.run(
            [sys.executable, "-m", "mnwd", "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mnwd: cannot listen on 127.0.0.1:{port}: Address already in use (is another mnwd running? set MNWD_SSH_PORT)"
    ]
    assert not (tmp_path / "pg").exists()
