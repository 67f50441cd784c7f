"""git over SSH: ``git clone`` and ``git push`` of a generated repository (~5,000 commits, ~2,000 files,
tens of MB) through mnwd (`mnwd serve`, its asyncssh server running the real git) against OpenSSH's ``sshd``
on a loopback port running ``git-upload-pack`` / ``git-receive-pack`` on the same bare repository.

The clone is ``git clone --bare`` (no checkout: the same on both sides); the push sends the repository's
history to a new empty repository (mnwd creates it on push; for sshd it is made before the clock starts).
Rounds alternate which side goes first (`bench.rounds.alternate`); the target is mnwd at most 1.3 times sshd's time.
Needs ``/usr/sbin/sshd`` (Debian ``openssh-server``, installed by ``scripts/setup --test``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import asyncssh

from bench.fixtures import free_port, mnwd_serve_argv, subprocess_server
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.db.embedded import EmbeddedPostgres

SSHD = "/usr/sbin/sshd"
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti") for b in ("ra", "ne", "os", "ix", "um")]


def fast_import_stream(commits: int, files: int, seed: int = 7) -> bytes:
    """History for ``git fast-import``: ``files`` text files (~6 KB), then commits changing three each."""
    rng = random.Random(seed)
    contents = [[" ".join(rng.choices(WORDS, k=12)) for _ in range(80)] for _ in range(files)]
    out: list[bytes] = []

    def blob(index: int) -> None:
        data = ("\n".join(contents[index]) + "\n").encode()
        out.append(b"M 100644 inline " + f"src/{index // 100:02d}/file-{index}.txt\n".encode())
        out.append(f"data {len(data)}\n".encode() + data + b"\n")

    for number in range(commits):
        message = f"change {number}\n".encode()
        stamp = 1_700_000_000 + number * 60
        out.append(b"commit refs/heads/main\n")
        out.append(f"committer Bench <bench@example.org> {stamp} +0000\n".encode())
        out.append(f"data {len(message)}\n".encode() + message)
        if number == 0:
            for index in range(files):
                blob(index)
        else:
            for index in rng.sample(range(files), 3):
                lines = contents[index]
                for _ in range(5):
                    lines[rng.randrange(len(lines))] = " ".join(rng.choices(WORDS, k=12))
                blob(index)
        out.append(b"\n")
    return b"".join(out)


async def run_ok(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: bytes = b"") -> str:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])} failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}"
        )
    return out.decode(errors="replace")


async def make_source(root: Path, commits: int, files: int) -> Path:
    work = root / "source"
    await run_ok("git", "init", "-q", "-b", "main", str(work))
    await run_ok("git", "fast-import", "--quiet", cwd=work, stdin=fast_import_stream(commits, files))
    await run_ok("git", "repack", "-a", "-d", "-q", cwd=work)
    await run_ok("git", "reset", "-q", "--hard", "main", cwd=work)
    return work


def sshd_config(root: Path, port: int, client_key: asyncssh.SSHKey) -> Path:
    host_key = root / "sshd_host_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(host_key))
    host_key.chmod(0o600)
    authorized = root / "authorized_keys"
    authorized.write_bytes(client_key.export_public_key("openssh"))
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {root / 'sshd.pid'}\nPermitRootLogin prohibit-password\nAcceptEnv GIT_PROTOCOL\n"
        "LogLevel ERROR\n"
    )
    return config


async def start_sshd(config: Path, port: int) -> asyncio.subprocess.Process:
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
    process = await asyncio.create_subprocess_exec(SSHD, "-D", "-e", "-f", str(config), stderr=asyncio.subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process
        except OSError:
            if process.returncode is not None:
                break
            await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd did not start on port {port}")


async def timed(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    await run_ok(*args, cwd=cwd, env=env)
    return time.perf_counter() - started


async def run(options: Options) -> list[Result]:
    if not Path(SSHD).exists():
        raise RuntimeError(f"{SSHD} is missing: apt-get install openssh-server (scripts/setup --test does)")
    commits = options.size(5000, 100)
    files = options.size(2000, 50)
    with tempfile.TemporaryDirectory(prefix="mnwd-bench-git-") as tmp:
        root = Path(tmp)
        source = await make_source(root, commits, files)
        pack_bytes = sum(p.stat().st_size for p in (source / ".git" / "objects" / "pack").glob("*.pack"))
        key_path = root / "client_key"
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(key_path))
        key_path.chmod(0o600)
        ssh = (
            f"ssh -F /dev/null -i {key_path} -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null "
            "-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR"
        )
        git_env = {"GIT_SSH_COMMAND": ssh, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root)}

        cluster = EmbeddedPostgres(root / "pg", unsafe_fast=options.fast_unsafe)
        url = await cluster.start()
        sshd_port, http_port, ssh_port = free_port(), free_port(), free_port()
        sshd = await start_sshd(sshd_config(root, sshd_port, client_key), sshd_port)
        env = {
            "MNWD_DATA_DIR": str(root / "var"),
            "DATABASE_URL": url,
            "MNWD_HTTP_PORT": str(http_port),
            "MNWD_SSH_PORT": str(ssh_port),
            "MNWD_LOG_LEVEL": "warning",
        }
        try:
            async with subprocess_server(mnwd_serve_argv(), env, http_port, root / "serve.log"):
                mnwd = [sys.executable, "-m", "mnwd"]
                await run_ok(*mnwd, "user", "create", "--username", "bench", "--email", "bench@example.org", env=env)
                await run_ok(*mnwd, "key", "add", "bench", env=env, stdin=client_key.export_public_key("openssh"))
                mnwd_url = f"ssh://git@127.0.0.1:{ssh_port}/bench"
                await run_ok("git", "push", "-q", f"{mnwd_url}/source.git", "main", cwd=source, env=git_env)
                conn = await asyncpg.connect(url)
                try:
                    repo_id = await conn.fetchval("SELECT id FROM git_repos WHERE name = 'source'")
                finally:
                    await conn.close()
                served = root / "var" / "git" / repo_id.hex[:2] / f"{repo_id.hex}.git"
                sshd_url = f"ssh://{getpass.getuser()}@127.0.0.1:{sshd_port}"
                rounds = iter(range(1_000_000))

                async def clone(base: str) -> float:
                    target = root / f"clone-{next(rounds)}"
                    try:
                        return await timed("git", "clone", "--bare", "-q", base, str(target), env=git_env)
                    finally:
                        shutil.rmtree(target, ignore_errors=True)

                async def push_mnwd() -> float:
                    return await timed(
                        "git", "push", "-q", f"{mnwd_url}/push-{next(rounds)}", "main", cwd=source, env=git_env
                    )

                async def push_sshd() -> float:
                    target = root / f"push-{next(rounds)}.git"
                    await run_ok("git", "init", "-q", "--bare", str(target))
                    try:
                        return await timed("git", "push", "-q", f"{sshd_url}{target}", "main", cwd=source, env=git_env)
                    finally:
                        shutil.rmtree(target, ignore_errors=True)

                clone_mnwd, clone_sshd = await alternate(
                    options, [lambda: clone(f"{mnwd_url}/source.git"), lambda: clone(f"{sshd_url}{served}")]
                )
                pushed_mnwd, pushed_sshd = await alternate(options, [push_mnwd, push_sshd])
        finally:
            sshd.terminate()
            await sshd.wait()
            await cluster.stop()
    size = f"{commits:,} commits, {files:,} files, {pack_bytes / 2**20:.0f} MiB pack"
    return [
        Result(f"git clone over SSH ({size})", "s", clone_mnwd, "OpenSSH sshd", clone_sshd, target_max=1.3),
        Result("git push over SSH, new repo", "s", pushed_mnwd, "OpenSSH sshd", pushed_sshd, target_max=1.3),
    ]
