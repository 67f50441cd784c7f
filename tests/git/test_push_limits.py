"""What a push may bring, with the real ``git`` and ``ssh`` clients: the owner's storage quota (refused
before any ref moves, with a line on the client's stderr), corrupt objects (``receive.fsckObjects``), and
concurrent pushes each publishing only their own refs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg

from mnwd.git import PushedEvent, on_pushed, repos, service
from mnwd.services import Services
from mnwd.tiers import GB, MB
from tests.git.conftest import GitUser, MakeGitUser, make_commits

ZERO = "0" * 40


async def remote_refs(user: GitUser, path: str) -> list[str]:
    listed = await user.git("ls-remote", user.url(path))
    assert listed.status == 0, listed.stderr
    return sorted(listed.stdout.splitlines())


async def test_a_push_past_the_storage_quota_is_refused_and_changes_nothing(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    work = tmp_path / "site"
    await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    # 20 000 bytes left of the basic tier's 1 GB.
    await pool.execute("UPDATE users SET storage_used_bytes = $2 WHERE id = $1", alice.user_id, GB - 20_000)
    refs = await remote_refs(alice, "alice/site")
    size = await pool.fetchval("SELECT size_bytes FROM git_repos WHERE name = 'site'")

    (work / "big.bin").write_bytes(os.urandom(64 * 1024))  # incompressible: the pack is past what is left
    assert (await alice.git("add", "big.bin", cwd=work)).status == 0
    assert (await alice.git("commit", "-q", "-m", "big", cwd=work)).status == 0
    refused = await alice.git("push", alice.url("alice/site"), "main", cwd=work)
    assert refused.status != 0
    assert "mnwd: push refused" in refused.stderr
    assert "20000 bytes left of alice's storage (basic tier: 1 GB)" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert await remote_refs(alice, "alice/site") == refs
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE id = $1", alice.user_id) == GB - 20_000
    assert await pool.fetchval("SELECT size_bytes FROM git_repos WHERE name = 'site'") == size

    # A small push still fits; a deletion-only push brings nothing and passes even at the limit.
    assert (await alice.git("reset", "-q", "--hard", "HEAD~1", cwd=work)).status == 0
    small = await make_commits(alice, work, 1)
    pushed = await alice.git("push", alice.url("alice/site"), "main", "main:refs/heads/extra", cwd=work)
    assert pushed.status == 0, pushed.stderr
    assert f"{small}\trefs/heads/main" in await remote_refs(alice, "alice/site")
    await pool.execute("UPDATE users SET storage_used_bytes = $2 WHERE id = $1", alice.user_id, GB + 1)
    deleted = await alice.git("push", alice.url("alice/site"), ":extra", cwd=work)
    assert deleted.status == 0, deleted.stderr


async def test_a_first_push_past_the_quota_leaves_no_repo(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path, services: Services
) -> None:
    bob = await git_user("bob")
    await pool.execute("UPDATE users SET storage_used_bytes = $2 WHERE id = $1", bob.user_id, GB)
    work = tmp_path / "new"
    await make_commits(bob, work, 1)
    refused = await bob.git("push", bob.url("bob/new"), "main", cwd=work)
    assert refused.status != 0
    assert "mnwd: push refused" in refused.stderr
    assert await pool.fetchval("SELECT count(*) FROM git_repos WHERE name = 'new'") == 0
    assert [p for p in (services.config.data_dir / "git").glob("*/*.git")] == []


async def test_a_push_of_a_corrupt_object_is_refused(git_user: MakeGitUser, tmp_path: Path) -> None:
    alice = await git_user("alice")
    work = tmp_path / "site"
    good = await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    tree = (await alice.git("rev-parse", "HEAD^{tree}", cwd=work)).stdout.strip()
    bad_commit = (
        f"tree {tree}\nparent {good}\nauthor Mallory <m@example.org> not-a-date +0000\n"
        "committer Mallory <m@example.org> 1700000000 +0000\n\nbad\n"
    )
    (tmp_path / "bad-commit").write_text(bad_commit)
    written = await alice.git(
        "hash-object", "-t", "commit", "--literally", "-w", str(tmp_path / "bad-commit"), cwd=work
    )
    assert written.status == 0, written.stderr
    bad = written.stdout.strip()
    refused = await alice.git("push", alice.url("alice/site"), f"{bad}:refs/heads/main", cwd=work)
    assert refused.status != 0
    assert "badDate" in refused.stderr or "bad date" in refused.stderr, refused.stderr
    assert f"{good}\trefs/heads/main" in await remote_refs(alice, "alice/site")


async def test_concurrent_pushes_each_publish_only_their_own_refs(
    git_user: MakeGitUser, services: Services, tmp_path: Path
) -> None:
    heard: list[PushedEvent] = []
    on_pushed(services, heard.append)
    alice = await git_user("alice")
    work = tmp_path / "site"
    await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    for _ in range(3):
        await asyncio.sleep(0.2)
        heard.clear()
        heads = {}
        for branch in ("one", "two"):
            clone = tmp_path / f"{branch}-{len(heads)}-{os.urandom(3).hex()}"
            assert (await alice.git("clone", "-q", alice.url("alice/site"), str(clone))).status == 0
            assert (await alice.git("checkout", "-q", "-B", branch, cwd=clone)).status == 0
            heads[branch] = (clone, await make_commits(alice, clone, 3, branch=branch))
        pushes = await asyncio.gather(
            *(alice.git("push", "-q", "--force", "origin", b, cwd=clone) for b, (clone, _) in heads.items())
        )
        assert all(p.status == 0 for p in pushes), [p.stderr for p in pushes]
        for _ in range(50):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # any extra event would have arrived by now
        assert sorted((e.ref, e.new_sha) for e in heard) == [
            ("refs/heads/one", heads["one"][1]),
            ("refs/heads/two", heads["two"][1]),
        ]


async def test_receive_pack_runs_with_fsck_the_tiers_largest_file_and_the_daemons_hooks(
    git_user: MakeGitUser, pool: asyncpg.Pool, services: Services, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    work = tmp_path / "site"
    await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    repo = await repos.find_repo(services, "alice", "site")
    assert repo is not None
    opened = service.Opened(repo, repos.repo_dir(services, repo.id), created=False)
    setup = await service.prepare_push(services, opened)
    setup.report.unlink()
    hooks = services.config.data_dir / "git" / ".hooks"
    assert setup.config == ("receive.fsckObjects=true", f"receive.maxInputSize={100 * MB}", f"core.hooksPath={hooks}")
    assert sorted(p.name for p in hooks.iterdir()) == ["post-receive", "pre-receive"]
    assert all(os.access(p, os.X_OK) for p in hooks.iterdir())
    assert not (opened.path / "hooks" / "pre-receive").exists()  # no hook file inside the repository
    # A bigger tier, and a per-account override past it, raise the per-push cap.
    await pool.execute(
        "UPDATE users SET creator_tier = 'big_files', storage_used_bytes = 0 WHERE id = $1", alice.user_id
    )
    setup = await service.prepare_push(services, opened)
    setup.report.unlink()
    assert f"receive.maxInputSize={5 * GB}" in setup.config
    assert setup.env["MNWD_QUOTA_LEFT"] == str(100 * GB)
    await pool.execute("UPDATE users SET max_file_override_bytes = $2 WHERE id = $1", alice.user_id, 7 * GB)
    setup = await service.prepare_push(services, opened)
    setup.report.unlink()
    assert f"receive.maxInputSize={7 * GB}" in setup.config
