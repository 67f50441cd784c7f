"""Protocol details over SSH: v2 negotiation, branches and tags, force-push and deletion, the pushed events,
concurrent clones, upload-archive, and a push cut half-way leaving the repo as it was."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from pathlib import Path

import asyncpg

from mnwd.git import PushedEvent, on_pushed
from mnwd.git.events import publish_pushed
from mnwd.git.repos import repo_dir
from mnwd.services import Services
from tests.git.conftest import GitUser, MakeGitUser, make_commits, run

ZERO = "0" * 40


async def pushed_repo(user: GitUser, tmp_path: Path, name: str = "site", commits: int = 2) -> Path:
    work = tmp_path / name
    await make_commits(user, work, commits)
    assert (await user.git("push", "-q", user.url(f"{user.username}/{name}.git"), "main", cwd=work)).status == 0
    return work


async def test_protocol_v2_is_negotiated_when_the_client_asks(git_user: MakeGitUser, tmp_path: Path) -> None:
    alice = await git_user("alice")
    await pushed_repo(alice, tmp_path)
    v2 = await alice.git(
        "-c", "protocol.version=2", "ls-remote", alice.url("alice/site"), env={"GIT_TRACE_PACKET": "1"}
    )
    assert v2.status == 0, v2.stderr
    assert "< version 2" in v2.stderr
    assert "refs/heads/main" in v2.stdout
    v0 = await alice.git(
        "-c", "protocol.version=0", "ls-remote", alice.url("alice/site"), env={"GIT_TRACE_PACKET": "1"}
    )
    assert v0.status == 0
    assert "version 2" not in v0.stderr
    clone = await alice.git("-c", "protocol.version=2", "clone", "-q", alice.url("alice/site"), str(tmp_path / "c"))
    assert clone.status == 0, clone.stderr


async def test_branches_tags_force_push_and_deletion_publish_pushed_events(
    git_user: MakeGitUser, services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    heard: list[PushedEvent] = []
    arrived = asyncio.Event()

    async def handler(event: PushedEvent) -> None:
        heard.append(event)
        arrived.set()

    on_pushed(services, handler)
    alice = await git_user("alice")
    work = await pushed_repo(alice, tmp_path)
    first = (await alice.git("rev-parse", "HEAD", cwd=work)).stdout.strip()
    await asyncio.wait_for(arrived.wait(), 10)
    assert [(e.owner, e.name, e.ref, e.old_sha, e.new_sha, e.pusher) for e in heard] == [
        ("alice", "site", "refs/heads/main", ZERO, first, "alice")
    ]
    assert heard[0].created

    heard.clear()
    arrived.clear()
    assert (await alice.git("checkout", "-q", "-b", "feature", cwd=work)).status == 0
    feature = await make_commits(alice, work, 1, branch="feature")
    assert (await alice.git("tag", "v1.0", cwd=work)).status == 0
    pushed = await alice.git("push", "-q", alice.url("alice/site"), "feature", "v1.0", cwd=work)
    assert pushed.status == 0, pushed.stderr
    while len(heard) < 2:
        await asyncio.wait_for(arrived.wait(), 10)
        arrived.clear()
    assert sorted((e.ref, e.new_sha) for e in heard) == [("refs/heads/feature", feature), ("refs/tags/v1.0", feature)]

    # Force-push main back past its history, then delete the feature branch.
    assert (await alice.git("checkout", "-q", "main", cwd=work)).status == 0
    assert (await alice.git("reset", "-q", "--hard", "HEAD~1", cwd=work)).status == 0
    rewritten = await make_commits(alice, work, 1)
    refused = await alice.git("push", alice.url("alice/site"), "main", cwd=work)
    assert refused.status != 0
    assert "rejected" in refused.stderr
    heard.clear()
    arrived.clear()
    forced = await alice.git("push", "-q", "--force", alice.url("alice/site"), "main", cwd=work)
    assert forced.status == 0, forced.stderr
    await asyncio.wait_for(arrived.wait(), 10)
    assert [(e.ref, e.old_sha, e.new_sha) for e in heard] == [("refs/heads/main", first, rewritten)]
    deleted = await alice.git("push", "-q", alice.url("alice/site"), ":feature", cwd=work)
    assert deleted.status == 0, deleted.stderr
    listed = await alice.git("ls-remote", alice.url("alice/site"))
    assert sorted(line.split("\t")[1] for line in listed.stdout.splitlines()) == [
        "HEAD",
        "refs/heads/main",
        "refs/tags/v1.0",
    ]


async def test_the_first_branch_pushed_becomes_the_default_when_there_is_no_main(
    git_user: MakeGitUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    work = tmp_path / "old"
    await make_commits(alice, work, 1, branch="trunk")
    assert (await alice.git("push", "-q", alice.url("alice/old"), "trunk", cwd=work)).status == 0
    assert await pool.fetchval("SELECT default_branch FROM git_repos WHERE name = 'old'") == "trunk"
    clone = await alice.git("clone", "-q", alice.url("alice/old"), str(tmp_path / "c"))
    assert clone.status == 0
    assert (await alice.git("branch", "--show-current", cwd=tmp_path / "c")).stdout.strip() == "trunk"


async def test_twenty_concurrent_clones(git_user: MakeGitUser, tmp_path: Path) -> None:
    alice = await git_user("alice")
    work = await pushed_repo(alice, tmp_path, commits=3)
    head = (await alice.git("rev-parse", "HEAD", cwd=work)).stdout.strip()
    clones = await asyncio.gather(
        *(alice.git("clone", "-q", alice.url("alice/site"), str(tmp_path / f"clone-{i}")) for i in range(20))
    )
    assert [c.status for c in clones] == [0] * 20, [c.stderr for c in clones if c.status]
    for i in range(20):
        assert (await alice.git("rev-parse", "HEAD", cwd=tmp_path / f"clone-{i}")).stdout.strip() == head


async def test_upload_archive(git_user: MakeGitUser, tmp_path: Path) -> None:
    alice = await git_user("alice")
    await pushed_repo(alice, tmp_path)
    archive = tmp_path / "site.tar"
    answer = await alice.git("archive", "--remote", alice.url("alice/site"), "-o", str(archive), "main")
    assert answer.status == 0, answer.stderr
    listing = await run("tar", "tf", str(archive))
    assert sorted(listing.stdout.split()) == ["file-0.txt", "file-1.txt"]


def pkt(line: bytes) -> bytes:
    return f"{len(line) + 4:04x}".encode() + line


async def cut_push(user: GitUser, repo: str, old: str, new: str, pack: bytes) -> None:
    """A receive-pack session whose pack stops half-way, and the connection with it."""
    request = pkt(f"{old} {new} refs/heads/main\0report-status\n".encode()) + b"0000" + pack[: len(pack) // 2]
    answer = await run(*user.ssh_args(), "git@127.0.0.1", f"git-receive-pack '{repo}'", stdin=request)
    assert "ng refs/heads/main unpacker error" in answer.stdout  # git's own report: nothing was updated


async def test_a_push_cut_half_way_changes_no_ref_and_leaves_the_repo_sound(
    git_user: MakeGitUser, services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    work = await pushed_repo(alice, tmp_path, commits=1)
    old = (await alice.git("rev-parse", "HEAD", cwd=work)).stdout.strip()
    (work / "big.bin").write_bytes(os.urandom(2_000_000))
    new = await make_commits(alice, work, 1)
    process = await asyncio.create_subprocess_exec(
        "git",
        "pack-objects",
        "--stdout",
        "--revs",
        cwd=work,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    pack, _ = await process.communicate(f"{new}\n^{old}\n".encode())
    assert len(pack) > 1_000_000
    await cut_push(alice, "alice/site", old, new, pack)

    listed = await alice.git("ls-remote", alice.url("alice/site"), "refs/heads/main")
    assert listed.stdout.split()[0] == old
    repo_id = await pool.fetchval("SELECT id FROM git_repos WHERE name = 'site'")
    fsck = await run("git", "--git-dir", str(repo_dir(services, repo_id)), "fsck", "--no-dangling")
    assert fsck.status == 0, fsck.stderr
    pushed = await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)
    assert pushed.status == 0, pushed.stderr  # and a whole push goes through afterwards

    # A cut first push to a new repo leaves no repo behind: neither row nor directory.
    await cut_push(alice, "alice/fresh", ZERO, new, pack)
    assert await pool.fetchval("SELECT count(*) FROM git_repos WHERE name = 'fresh'") == 0
    git_root = services.config.data_dir / "git"
    assert sorted(p.name for p in git_root.glob("*/*.git")) == [f"{repo_id.hex}.git"]


async def test_an_event_too_large_for_notify_is_dropped_and_the_others_arrive(services: Services) -> None:
    """A NOTIFY payload of 8,000 bytes would fail the whole batch it is sent in, other domains' included."""
    heard: list[PushedEvent] = []
    on_pushed(services, heard.append)
    user_id = uuid.uuid4()
    event = PushedEvent(uuid.uuid4(), "alice", "site", "refs/heads/main", ZERO, "1" * 40, user_id, "alice")
    huge = dataclasses.replace(event, ref="refs/heads/" + "x" * 8000)
    publish_pushed(services, [huge, event])
    deadline = asyncio.get_running_loop().time() + 10
    while not heard:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert heard == [event]


async def test_a_push_whose_client_is_killed_changes_no_ref_and_stops_git(
    git_user: MakeGitUser, services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    alice = await git_user("alice")
    work = await pushed_repo(alice, tmp_path, commits=1)
    old = (await alice.git("rev-parse", "HEAD", cwd=work)).stdout.strip()
    (work / "big.bin").write_bytes(os.urandom(2_000_000))
    new = await make_commits(alice, work, 1)
    packer = await asyncio.create_subprocess_exec(
        "git", "pack-objects", "--stdout", "--revs", cwd=work,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    pack, _ = await packer.communicate(f"{new}\n^{old}\n".encode())
    client = await asyncio.create_subprocess_exec(
        *alice.ssh_args(), "git@127.0.0.1", "git-receive-pack 'alice/site'",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert client.stdin is not None
    assert client.stdout is not None
    assert await client.stdout.read(4)
    client.stdin.write(pkt(f"{old} {new} refs/heads/main\0report-status\n".encode()) + b"0000" + pack[:1_000_000])
    await client.stdin.drain()
    await asyncio.sleep(0.2)
    client.kill()  # the connection drops mid-pack
    await client.wait()

    repo_id = await pool.fetchval("SELECT id FROM git_repos WHERE name = 'site'")
    path = repo_dir(services, repo_id)
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # git is stopped, not left running
        found = await run("pgrep", "-f", f"receive-pack {path}")
        assert found.status in {0, 1}, found.stderr
        if found.status == 1:
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    listed = await alice.git("ls-remote", alice.url("alice/site"), "refs/heads/main")
    assert listed.stdout.split()[0] == old
    fsck = await run("git", "--git-dir", str(path), "fsck", "--no-dangling")
    assert fsck.status == 0, fsck.stderr
