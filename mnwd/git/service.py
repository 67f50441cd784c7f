"""What runs behind ``git clone`` and ``git push``, whatever the transport (SSH, smart HTTP): parsing the
client's command, deciding access, running the real ``git upload-pack`` / ``receive-pack`` /
``upload-archive`` on the bare repo, and recording a push.

- ``parse_command("git-upload-pack 'owner/name.git'")`` → ``(verb, owner, name)``; anything else (other
  programs, several arguments, ``../x``, ``a/b/c``, shell syntax) raises `Refused` with the one line to show.
  It is split with `shlex` and never reaches a shell; the path must match `mnwd.git.repos.REPO_PATH`.
- ``open_repo(services, user, verb, owner, name)`` → `Opened`: reading needs `can_read`, pushing
  `can_write`. A missing or private repo the user may not read is "repository not found" for every verb, so
  nothing tells an outsider it exists. Pushing to a missing repo under one's own name creates it (private):
  the row is inserted (a concurrent first push finds it and joins) and ``git init --bare`` run.
- ``git_process(verb, path, protocol)`` starts git with a clean environment (no system or global config) and
  ``GIT_PROTOCOL`` when the client asked for one of the known values (``version=2``).
- ``finish_push(services, opened, user, before)``: after ``receive-pack`` exits, compare the refs with
  ``before``. A repo this push created that still has no ref (the push failed or was cut) is removed again,
  row and directory. Otherwise HEAD is pointed at an existing branch if it names none (main, master, or the
  first), and in one transaction the default branch, ``pushed_at`` and the size on disk are recorded and the
  size's difference added to the owner's ``storage_used_bytes``; after the commit one `PushedEvent` per
  changed ref is published (`mnwd.git.events`).

Races: a push cut mid-pack leaves what git leaves (refs are only updated after the pack is complete and
checked, so the repo is never corrupt; an incomplete pack file is left in ``objects/incoming-*`` or removed by
git). Two first pushes to one new repo share the row; if the one that created it fails while the other is
still running, the creator sees no ref and removes the repo under it (rare; the other push then fails and is
retried by the user).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from mnwd.db.tx import Tx, run_tx
from mnwd.git import repos
from mnwd.git.events import ZERO_SHA, PushedEvent, publish_pushed
from mnwd.git.queries import repos as queries
from mnwd.services import Services

__all__ = [
    "VERBS",
    "Opened",
    "Refused",
    "User",
    "finish_push",
    "git_env",
    "git_maintenance",
    "git_process",
    "open_repo",
    "parse_command",
    "read_refs",
]

UPLOAD_PACK = "git-upload-pack"
RECEIVE_PACK = "git-receive-pack"
UPLOAD_ARCHIVE = "git-upload-archive"
VERBS = (UPLOAD_PACK, RECEIVE_PACK, UPLOAD_ARCHIVE)
# What GIT_PROTOCOL may carry through to git: "version=2", "version=1", colon-separated.
PROTOCOL = re.compile(r"^version=[0-2](?::[a-z0-9-]+=[A-Za-z0-9._-]+)*$")
MAX_SHOWN = 100


class Refused(Exception):
    """The command is not served; the message is the one line the client sees on stderr."""


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    username: str


@dataclass(frozen=True)
class Opened:
    repo: repos.Repo
    path: Path
    created: bool


def _shown(text: str) -> str:
    text = text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"
    return repr(text)


def parse_command(command: str) -> tuple[str, str, str]:
    try:
        words = shlex.split(command)
    except ValueError:
        raise Refused(f"mnwd: cannot read the command {_shown(command)}") from None
    if len(words) >= 2 and words[0] == "git" and f"git-{words[1]}" in VERBS:
        words = [f"git-{words[1]}", *words[2:]]
    if not words or words[0] not in VERBS:
        raise Refused(
            f"mnwd: unknown command {_shown(command)}: only git-upload-pack, git-receive-pack and "
            "git-upload-archive run here"
        )
    if len(words) != 2:
        raise Refused(f"mnwd: {words[0]} takes one repository path, OWNER/NAME.git")
    parsed = repos.parse_repo_path(words[1])
    if parsed is None:
        raise Refused(f"mnwd: {_shown(words[1])} is not a repository path (OWNER/NAME.git)")
    return words[0], parsed[0], parsed[1]


def not_found(owner: str, name: str) -> Refused:
    return Refused(f"mnwd: repository not found: {owner}/{name}")


async def open_repo(services: Services, user: User, verb: str, owner: str, name: str) -> Opened:
    repo = await repos.find_repo(services, owner.lower(), name)
    if repo is not None:
        if not repos.can_read(repo, user.user_id):
            raise not_found(owner, name)
        if verb == RECEIVE_PACK and not repos.can_write(repo, user.user_id):
            raise Refused(f"mnwd: {user.username} may not push to {repo.owner}/{repo.name}: only its owner may")
        path = repos.repo_dir(services, repo.id)
        if not path.is_dir():
            # A row whose directory is missing (restored database, lost disk): say so rather than 500.
            if verb != RECEIVE_PACK:
                raise Refused(f"mnwd: {repo.owner}/{repo.name} is empty")
            await repos.init_bare(path, repo.default_branch)
        return Opened(repo, path, created=False)
    if verb != RECEIVE_PACK or owner.lower() != user.username:
        raise not_found(owner, name)
    row = await queries.insert_repo(services.pool, user.user_id, name, is_private=True)
    created = row is not None
    if row is None:
        row = await queries.get_owned_repo(services.pool, user.user_id, name)
        if row is None:
            raise not_found(owner, name)
    repo = repos.Repo.from_row(row)
    path = repos.repo_dir(services, repo.id)
    await repos.init_bare(path, repo.default_branch)
    return Opened(repo, path, created=created)


def git_env(protocol: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }
    if protocol and PROTOCOL.match(protocol):
        env["GIT_PROTOCOL"] = protocol
    return env


async def git_process(verb: str, path: Path, protocol: str | None, *extra: str) -> asyncio.subprocess.Process:
    """``git upload-pack PATH`` (etc.) with pipes on all three streams."""
    return await asyncio.create_subprocess_exec(
        "git",
        verb.removeprefix("git-"),
        *extra,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_env(protocol),
    )


async def git_maintenance(path: Path) -> asyncio.subprocess.Process:
    """``git gc --auto --quiet`` on the repo, started (the caller waits)."""
    return await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(path),
        "gc",
        "--auto",
        "--quiet",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=git_env(None),
    )


async def _git(path: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(path),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=git_env(None),
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def read_refs(path: Path) -> dict[str, str]:
    """Every ref (branches, tags, others) and the object it points to."""
    status, out = await _git(path, "for-each-ref", "--format=%(objectname) %(refname)")
    if status != 0:
        return {}
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        refs[ref] = sha
    return refs


def _size_on_disk(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for file in files:
            # A file removed meanwhile (gc, a concurrent push's temporary file) counts nothing.
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, file)).st_size
    return total


async def _default_branch(path: Path, refs: dict[str, str]) -> str | None:
    """The branch HEAD names, pointed first at an existing branch when it names none."""
    status, out = await _git(path, "symbolic-ref", "HEAD")
    head = out.strip() if status == 0 else ""
    branches = sorted(ref for ref in refs if ref.startswith("refs/heads/"))
    if not branches:
        return None
    if head not in refs:
        preferred = [f"refs/heads/{b}" for b in ("main", "master")]
        head = next((ref for ref in preferred if ref in refs), branches[0])
        await _git(path, "symbolic-ref", "HEAD", head)
    return head.removeprefix("refs/heads/")


async def remove_repo(services: Services, repo: repos.Repo) -> None:
    await queries.delete_repo(services.pool, repo.id)
    await asyncio.to_thread(shutil.rmtree, repos.repo_dir(services, repo.id), True)


async def finish_push(services: Services, opened: Opened, user: User, before: dict[str, str]) -> list[PushedEvent]:
    after = await read_refs(opened.path)
    if opened.created and not after:
        await remove_repo(services, opened.repo)
        return []
    changed = sorted(ref for ref in before.keys() | after.keys() if before.get(ref) != after.get(ref))
    if not changed:
        return []
    branch = await _default_branch(opened.path, after) or opened.repo.default_branch
    size = await asyncio.to_thread(_size_on_disk, opened.path)

    async def record(tx: Tx) -> None:
        await queries.update_after_push(tx.conn, opened.repo.id, branch, size)

    await run_tx(services.pool, "git.push", record, metrics=services.metrics)
    events = [
        PushedEvent(
            repo_id=opened.repo.id,
            owner=opened.repo.owner,
            name=opened.repo.name,
            ref=ref,
            old_sha=before.get(ref, ZERO_SHA),
            new_sha=after.get(ref, ZERO_SHA),
            pusher_id=user.user_id,
            pusher=user.username,
        )
        for ref in changed
    ]
    publish_pushed(services, events)
    return events
