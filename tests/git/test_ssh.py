"""The git SSH server with the real ``git`` and ``ssh`` clients: push creates a repo, clone, fetch, protocol
v2, access rules for every verb, refused commands and paths, the greeting, and the bound identity."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from mnwd.git.ssh import GitSshServer
from mnwd.services import Services
from tests.git.conftest import MakeGitUser, make_commits, run


async def test_push_creates_a_private_repo_that_clones_and_fetches(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path, services: Services
) -> None:
    alice = await git_user("alice")
    work = tmp_path / "site"
    head = await make_commits(alice, work, 3)
    pushed = await alice.git("push", alice.url("alice/site.git"), "main", cwd=work)
    assert pushed.status == 0, pushed.stderr
    row = await pool.fetchrow("SELECT * FROM git_repos WHERE name = 'site'")
    assert row["is_private"] is True
    assert row["default_branch"] == "main"
    assert row["pushed_at"] is not None
    assert row["size_bytes"] > 0
    used = await pool.fetchval("SELECT storage_used_bytes FROM users WHERE id = $1", alice.user_id)
    assert used == row["size_bytes"]
    assert await pool.fetchval("SELECT last_used_at FROM ssh_keys WHERE user_id = $1", alice.user_id) is not None

    clone = tmp_path / "clone"
    cloned = await alice.git("clone", "-q", alice.url("alice/site"), str(clone))
    assert cloned.status == 0, cloned.stderr
    assert (await alice.git("rev-parse", "HEAD", cwd=clone)).stdout.strip() == head

    newer = await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site.git"), "main", cwd=work)).status == 0
    fetched = await alice.git("fetch", "-q", "origin", cwd=clone)
    assert fetched.status == 0, fetched.stderr
    assert (await alice.git("rev-parse", "origin/main", cwd=clone)).stdout.strip() == newer
    used_after = await pool.fetchval("SELECT storage_used_bytes FROM users WHERE id = $1", alice.user_id)
    assert used_after == await pool.fetchval("SELECT size_bytes FROM git_repos WHERE name = 'site'")


async def test_no_command_gets_the_greeting_and_no_shell(git_user: MakeGitUser) -> None:
    alice = await git_user("alice")
    answer = await run(*alice.ssh_args(), "-T", "git@127.0.0.1")
    assert answer.status == 1
    assert answer.stderr.strip() == (
        "Hi alice! You've successfully authenticated, but mnwd does not provide shell access."
    )


async def test_unknown_commands_and_bad_paths_are_one_line_and_fail(git_user: MakeGitUser) -> None:
    alice = await git_user("alice")
    cases = {
        "ls -la": "unknown command",
        "rm -rf /": "unknown command",
        "git-upload-pack '../x'": "is not a repository path",
        "git-upload-pack 'a/b/c'": "is not a repository path",
        "git-upload-pack ''\\''; rm -rf /'": "is not a repository path",
        "git-upload-pack 'alice/../../etc.git'": "is not a repository path",
        "git-upload-pack alice/a alice/b": "takes one repository path",
        "git-upload-pack 'unterminated": "cannot read the command",
        "git-receive-pack '/alice/.git'": "is not a repository path",
    }
    for command, message in cases.items():
        answer = await alice.ssh(command)
        assert answer.status != 0, command
        assert len(answer.stderr.strip().splitlines()) == 1, (command, answer.stderr)
        assert message in answer.stderr, (command, answer.stderr)


async def test_an_unknown_key_is_refused(git_user: MakeGitUser, tmp_path: Path) -> None:
    from tests.git.conftest import write_key

    alice = await git_user("alice")
    stranger = tmp_path / "stranger"
    write_key(stranger)
    args = [a for a in alice.ssh_args() if a != str(alice.key_path)]
    args.remove("-i")  # only the stranger's key is offered
    answer = await run(*args, "-i", str(stranger), "git@127.0.0.1", "git-upload-pack 'alice/x'")
    assert answer.status == 255
    assert "Permission denied (publickey)" in answer.stderr


async def test_git_operations_at_once_are_capped_per_account(
    git_user: MakeGitUser, ssh_server: GitSshServer, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    await make_commits(alice, tmp_path / "site")
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=tmp_path / "site")).status == 0
    ssh_server.max_git_per_user = 2
    held = []
    for _ in range(2):  # receive-pack waits for the client's commands after its advertisement
        process = await asyncio.create_subprocess_exec(
            *alice.ssh_args(),
            "git@127.0.0.1",
            "git-receive-pack 'alice/site'",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert await process.stdout.read(4)
        held.append(process)
    refused = await alice.ssh("git-upload-pack 'alice/site'")
    assert refused.status == 1
    assert refused.stderr.strip() == "mnwd: alice has 2 git operations running; try again when one has finished"
    for process in held:
        assert process.stdin is not None
        process.stdin.write(b"0000")
        process.stdin.close()
        await process.wait()
    assert (await alice.git("ls-remote", alice.url("alice/site"))).status == 0
