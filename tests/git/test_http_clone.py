"""Anonymous smart-HTTP clone with the real git: public repos clone and fetch (protocol v0 and v2), private
and missing ones are the same 404, and pushing over HTTP is refused."""

from __future__ import annotations

import gzip
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient

from tests.git.conftest import MakeGitUser, make_commits, run

ANON = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


async def test_a_public_repo_clones_and_fetches_anonymously_over_http(
    git_user: MakeGitUser,
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    alice = await git_user("alice")
    work = tmp_path / "site"
    head = await make_commits(alice, work, 3)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    await pool.execute("UPDATE git_repos SET is_private = false")
    base = f"http://127.0.0.1:{client.port}"

    for version, url in (
        ("2", f"{base}/source/alice/site.git"),
        ("0", f"{base}/alice/site.git"),
        ("2", f"{base}/alice/site"),
        ("0", f"{base}/source/alice/site"),
    ):
        clone = tmp_path / f"clone-v{version}-{url.rsplit('/', 2)[-2]}-{url.endswith('.git')}"
        if clone.name == "clone-v2-alice-True":
            clone = tmp_path / "clone-v2"
        cloned = await run(
            "git",
            "-c",
            f"protocol.version={version}",
            "clone",
            "-q",
            url,
            str(clone),
            env={**ANON, "GIT_TRACE_PACKET": "1"},
        )
        assert cloned.status == 0, cloned.stderr
        assert ("< version 2" in cloned.stderr) == (version == "2")
        assert (await run("git", "-C", str(clone), "rev-parse", "HEAD")).stdout.strip() == head

    newer = await make_commits(alice, work, 1)
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=work)).status == 0
    fetched = await run("git", "-C", str(tmp_path / "clone-v2"), "fetch", "-q", env=ANON)
    assert fetched.status == 0, fetched.stderr
    assert (await run("git", "-C", str(tmp_path / "clone-v2"), "rev-parse", "origin/main")).stdout.strip() == newer
    pushed = await run("git", "-C", str(tmp_path / "clone-v2"), "push", "origin", "HEAD:refs/heads/x", env=ANON)
    assert pushed.status != 0


async def test_private_and_missing_repos_are_the_same_404(
    git_user: MakeGitUser,
    client: TestClient,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    alice = await git_user("alice")
    await make_commits(alice, tmp_path / "secret")
    assert (await alice.git("push", "-q", alice.url("alice/secret"), "main", cwd=tmp_path / "secret")).status == 0
    answers = []
    for path in ("alice/secret.git", "alice/nothing.git", "nobody/x.git"):
        response = await client.get(f"/source/{path}/info/refs?service=git-upload-pack")
        answers.append((response.status, (await response.json())["detail"]))
    for path in ("alice/secret", "alice/secret.git", "alice/nothing"):
        response = await client.get(f"/{path}/info/refs?service=git-upload-pack")
        answers.append((response.status, (await response.json())["detail"]))
    assert answers == [(404, "Repository not found.")] * 6
    # The store's /@username pages are never taken for a repository.
    assert (await client.get("/@alice/secret/info/refs?service=git-upload-pack")).status == 404
    cloned = await run(
        "git", "clone", f"http://127.0.0.1:{client.port}/source/alice/secret.git", str(tmp_path / "c"), env=ANON
    )
    assert cloned.status != 0
    assert not (tmp_path / "c").exists()
    upload = await client.post(
        "/source/alice/secret.git/git-upload-pack",
        data=b"0000",
        headers={"Content-Type": "application/x-git-upload-pack-request"},
    )
    assert upload.status == 404


async def test_receive_pack_dumb_http_and_bad_requests_are_refused(
    git_user: MakeGitUser,
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    alice = await git_user("alice")
    await make_commits(alice, tmp_path / "site")
    assert (await alice.git("push", "-q", alice.url("alice/site"), "main", cwd=tmp_path / "site")).status == 0
    await pool.execute("UPDATE git_repos SET is_private = false")
    receive = await client.get("/source/alice/site.git/info/refs?service=git-receive-pack")
    assert receive.status == 403
    assert "push over SSH" in (await receive.json())["detail"]
    dumb = await client.get("/source/alice/site.git/info/refs")
    assert dumb.status == 403
    assert (await client.get("/source/alice/..%2F..%2Fetc/info/refs?service=git-upload-pack")).status == 404
    wrong_type = await client.post("/source/alice/site.git/git-upload-pack", data=b"0000")
    assert wrong_type.status == 400
    flush_only = await client.post(
        "/source/alice/site.git/git-upload-pack",
        data=gzip.compress(b"0000"),
        headers={"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"},
    )
    assert flush_only.status == 200
    assert flush_only.content_type == "application/x-git-upload-pack-result"
