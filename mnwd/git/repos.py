"""Repositories: the row in `git_repos`, the bare repo on disk, and who may read or write it.

A bare repo lives at ``DATA_DIR/git/<id[:2]>/<id>.git``, addressed by the row's id, never by a name a
user typed: renaming a repo moves no file, and no path a client sends ever reaches the file system. A
client's ``owner/name[.git]`` is checked against `REPO_PATH` before anything else happens.

Access: the owner reads and writes; anyone (signed in or not) reads a public repo; only the owner reads a
private one. `ensure_repo` creates a missing repo (private) for its owner, race-free: two concurrent first
pushes agree on one row, and ``git init --bare`` is idempotent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from mnwd.git.queries import repos as queries
from mnwd.services import Services

__all__ = ["REPO_PATH", "Repo", "can_read", "can_write", "ensure_repo", "find_repo", "parse_repo_path", "repo_dir"]

# owner/name with an optional .git suffix; the name pattern is git_repos_name_format's.
REPO_PATH = re.compile(r"^/?(?P<owner>[A-Za-z0-9_-]{1,64})/(?P<name>[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Repo:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    name: str
    description: str
    is_private: bool
    default_branch: str
    pushed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    size_bytes: int = 0

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Repo:
        return cls(**{field: row[field] for field in cls.__dataclass_fields__})


def parse_repo_path(path: str) -> tuple[str, str] | None:
    """``(owner, name)`` from ``owner/name[.git]``, or ``None`` when it is not one (``../x``, ``a/b/c``)."""
    match = REPO_PATH.match(path)
    if match is None or match["name"].endswith(".git") or ".." in match["name"]:
        return None
    return match["owner"], match["name"]


def git_root(services: Services) -> Path:
    return services.config.data_dir / "git"


def repo_dir(services: Services, repo_id: uuid.UUID) -> Path:
    hex_id = repo_id.hex
    return git_root(services) / hex_id[:2] / f"{hex_id}.git"


def can_read(repo: Repo, user_id: uuid.UUID | None) -> bool:
    return not repo.is_private or repo.user_id == user_id


def can_write(repo: Repo, user_id: uuid.UUID | None) -> bool:
    return repo.user_id == user_id


async def find_repo(services: Services, owner: str, name: str) -> Repo | None:
    row = await queries.get_repo_by_path(services.pool, owner, name)
    return None if row is None else Repo.from_row(row)


async def init_bare(path: Path, default_branch: str = "main") -> None:
    """``git init --bare`` at ``path`` (idempotent: re-initialising an existing repo changes nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "git",
        "init",
        "--quiet",
        "--bare",
        f"--initial-branch={default_branch}",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"git init --bare {path} failed: {err.decode(errors='replace').strip()}")


async def ensure_repo(services: Services, user_id: uuid.UUID, name: str, *, is_private: bool = True) -> Repo:
    """The owner's repo ``name``, created (row and bare repo) when missing."""
    row = await queries.insert_repo(services.pool, user_id, name, is_private=is_private)
    if row is None:
        row = await queries.get_owned_repo(services.pool, user_id, name)
    assert row is not None
    repo = Repo.from_row(row)
    await init_bare(repo_dir(services, repo.id), repo.default_branch)
    return repo
