"""Real repositories for the /source/ tests: a `git_repos` row, and the bare repo at the path
`mnwd.git.repos.repo_dir` gives, filled by the real ``git`` CLI (init, commit, push to the file path).

``make_git_repo`` is a fixture returning an async function: ``await make_git_repo(owner_row, "name",
{"README.md": "# Hi"}, private=False)`` → (`Repo`, work tree). ``commit_files(work, files, message)`` and
``push(work, *refs)`` add history afterwards.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import asyncpg
import pytest

from mnwd.git.repos import Repo, ensure_repo, repo_dir
from mnwd.services import Services

__all__ = ["MakeGitRepo", "commit_files", "git", "make_git_repo", "push"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

MakeGitRepo = Callable[..., Awaitable[tuple[Repo, Path]]]


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def commit_files(work: Path, files: Mapping[str, str | bytes], message: str) -> str:
    """Writes ``files`` (paths relative to the work tree), commits them all; the new commit's id."""
    for name, content in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git(work, "add", "-A")
    git(work, "commit", "-q", "--allow-empty", "-m", message)
    return git(work, "rev-parse", "HEAD")


def push(work: Path, *refs: str) -> None:
    git(work, "push", "-q", "origin", *(refs or ("--all",)))


def init_work_tree(work: Path, bare: Path, branch: str = "main") -> None:
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", branch)
    git(work, "remote", "add", "origin", str(bare))


@pytest.fixture
def make_git_repo(services: Services, tmp_path: Path) -> MakeGitRepo:
    async def make(
        owner: asyncpg.Record,
        name: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        private: bool = False,
        message: str = "First commit",
    ) -> tuple[Repo, Path]:
        repo = await ensure_repo(services, owner["id"], name, is_private=private)
        work = tmp_path / "work" / f"{owner['username']}-{name}"
        init_work_tree(work, repo_dir(services, repo.id))
        if files is not None:
            commit_files(work, files, message)
            push(work, "main")
        return repo, work

    return make
