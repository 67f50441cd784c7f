"""The git SSH server in this test's event loop, and real ``git``/``ssh`` clients with keys of their own.

The server runs in-process (`GitSshServer` on the test's services), the clients as subprocesses driven
with asyncio so the loop keeps serving them. ``GitUser`` holds a user, a key pair on disk and the
``GIT_SSH_COMMAND`` that uses only that key."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from mnwd.git import keys
from mnwd.git.ssh import GitSshServer
from mnwd.services import Services
from tests.support.accounts import MakeUser


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str


async def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: bytes = b"", seconds: float = 60
) -> Run:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), seconds)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def write_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    key.write_private_key(str(path))
    path.chmod(0o600)
    key.write_public_key(str(path) + ".pub")
    return key


@dataclass
class GitUser:
    username: str
    user_id: uuid.UUID
    key_path: Path
    port: int
    home: Path

    def ssh_args(self, *more_identities: Path) -> list[str]:
        identities = [a for p in (*more_identities, self.key_path) for a in ("-i", str(p))]
        return [
            "ssh",
            "-F",
            "/dev/null",
            *identities,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.port),
        ]

    @property
    def env(self) -> dict[str, str]:
        return {
            "GIT_SSH_COMMAND": " ".join(self.ssh_args()),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": self.username,
            "GIT_AUTHOR_EMAIL": f"{self.username}@example.org",
            "GIT_COMMITTER_NAME": self.username,
            "GIT_COMMITTER_EMAIL": f"{self.username}@example.org",
        }

    def url(self, path: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{path}"

    async def git(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        return await run("git", *args, cwd=cwd, env={**self.env, **(env or {})})

    async def ssh(self, *command: str, identities: tuple[Path, ...] = ()) -> Run:
        return await run(*self.ssh_args(*identities), "git@127.0.0.1", *command, env={"HOME": str(self.home)})


@pytest.fixture
async def ssh_server(services: Services) -> AsyncIterator[GitSshServer]:
    server = GitSshServer(services)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


MakeGitUser = Callable[[str], Awaitable[GitUser]]


@pytest.fixture
def git_user(services: Services, make_user: MakeUser, ssh_server: GitSshServer, tmp_path: Path) -> MakeGitUser:
    async def make(username: str) -> GitUser:
        row = await make_user(username)
        home = tmp_path / f"home-{username}"
        home.mkdir()
        key = write_key(home / "id_ed25519")
        await keys.add_key(services, row["id"], key.export_public_key("openssh").decode())
        assert ssh_server.port is not None
        return GitUser(username, row["id"], home / "id_ed25519", ssh_server.port, home)

    return make


async def make_commits(user: GitUser, work: Path, count: int = 1, *, branch: str = "main") -> str:
    """A working repo at ``work`` with ``count`` commits on ``branch``; returns the last sha."""
    if not work.exists():
        assert (await user.git("init", "-q", "-b", branch, str(work))).status == 0
    for i in range(count):
        (work / f"file-{i}.txt").write_text(f"{work.name} {i} {uuid.uuid4()}\n")
        assert (await user.git("add", "-A", cwd=work)).status == 0
        assert (await user.git("commit", "-q", "-m", f"commit {i}", cwd=work)).status == 0
    return (await user.git("rev-parse", "HEAD", cwd=work)).stdout.strip()
