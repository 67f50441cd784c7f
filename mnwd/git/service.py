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
- ``prepare_push(services, opened)`` → `PushSetup`: what ``receive-pack`` runs with. Config
  ``receive.fsckObjects=true`` (corrupt or malformed objects are refused), ``receive.maxInputSize`` = the
  owner's largest file (`mnwd.tiers`, or their override), and ``core.hooksPath`` = the daemon's own hooks
  (written by `install_hooks` into ``DATA_DIR/git/.hooks``, never in a repo): ``pre-receive`` adds up the
  pushed objects (the quarantine directory, before any ref moves) and refuses the whole push, with a line on
  the client's stderr, when they are more than the storage the owner's tier has left
  (``MNWD_QUOTA_LEFT``); ``post-receive`` writes the ref updates git actually made (``old new ref`` lines)
  to the file named by ``MNWD_PUSH_REPORT``.
- ``finish_push(services, opened, user, setup)``: after ``receive-pack`` exits, the changed refs are the
  lines of this push's own report (so two concurrent pushes to one repo each list only their own refs;
  when git did not get to run post-receive, e.g. killed, the refs are compared with ``setup.before``). A
  repo this push created that still has no ref (the push failed or was cut) is removed again, row and
  directory. Otherwise HEAD is pointed at an existing branch if it names none (main, master, or the first),
  and in one transaction the default branch, ``pushed_at`` and the size on disk are recorded and the size's
  difference added to the owner's ``storage_used_bytes``; after the commit one `PushedEvent` per changed
  ref is published (`mnwd.git.events`).

Races: a push cut mid-pack leaves what git leaves (refs are only updated after the pack is complete and
checked, so the repo is never corrupt; an incomplete pack file is left in ``objects/incoming-*`` or removed by
git). Two first pushes to one new repo share the row; if the one that created it fails while the other is
still running, the creator sees no ref and removes the repo under it (rare; the other push then fails and is
retried by the user). The quota is checked against the storage used when the push started: two
concurrent pushes by one owner may each fit and together go past it (by at most one push's size).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from mnwd.db.tx import Tx, run_tx
from mnwd.git import repos
from mnwd.git.events import ZERO_SHA, PushedEvent, publish_pushed
from mnwd.git.queries import repos as queries
from mnwd.services import Services
from mnwd.tiers import human_size, limits_for

__all__ = [
    "VERBS",
    "Opened",
    "PushSetup",
    "Refused",
    "User",
    "finish_push",
    "git_env",
    "git_maintenance",
    "git_process",
    "install_hooks",
    "open_repo",
    "parse_command",
    "prepare_push",
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


async def git_process(
    verb: str,
    path: Path,
    protocol: str | None,
    *extra: str,
    config: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """``git [-c KEY=VALUE…] upload-pack PATH`` (etc.) with pipes on all three streams; ``env`` is added to
    the clean environment (hooks see it)."""
    return await asyncio.create_subprocess_exec(
        "git",
        *(arg for item in config for arg in ("-c", item)),
        verb.removeprefix("git-"),
        *extra,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**git_env(protocol), **(env or {})},
    )


# The daemon's hooks (core.hooksPath), run by receive-pack with the environment `prepare_push` gives it.
PRE_RECEIVE = """#!/bin/sh
# mnwd: refuse a push whose new objects are more than the owner's storage left (MNWD_QUOTA_LEFT bytes).
cat >/dev/null
[ -n "$MNWD_QUOTA_LEFT" ] && [ -n "$GIT_QUARANTINE_PATH" ] && [ -d "$GIT_QUARANTINE_PATH" ] || exit 0
size=$(find "$GIT_QUARANTINE_PATH" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
if [ "$size" -gt 0 ] && [ "$size" -gt "$MNWD_QUOTA_LEFT" ]; then
    echo "mnwd: push refused: its $size bytes of new objects are more than the $MNWD_QUOTA_LEFT bytes left" \
        "of $MNWD_QUOTA_OWNER's storage ($MNWD_QUOTA_TIER tier: $MNWD_QUOTA_LIMIT); nothing was changed." >&2
    exit 1
fi
exit 0
"""
POST_RECEIVE = """#!/bin/sh
# mnwd: the ref updates of this push, for the daemon (MNWD_PUSH_REPORT names the file).
if [ -n "$MNWD_PUSH_REPORT" ]; then cat >"$MNWD_PUSH_REPORT"; else cat >/dev/null; fi
"""
HOOKS = {"pre-receive": PRE_RECEIVE, "post-receive": POST_RECEIVE}


def install_hooks(services: Services) -> Path:
    """``DATA_DIR/git/.hooks`` with the daemon's hooks, (re)written when missing or different (each file
    written aside and renamed into place, so a concurrent push never runs half a hook)."""
    directory = repos.git_root(services) / ".hooks"
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in HOOKS.items():
        target = directory / name
        with contextlib.suppress(OSError):
            if target.read_text() == text and os.access(target, os.X_OK):
                continue
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}-")
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    return directory


@dataclass
class PushSetup:
    """What one ``receive-pack`` runs with, and the refs before it (the fallback when no report comes)."""

    config: tuple[str, ...]
    env: dict[str, str]
    report: Path
    before: dict[str, str]


async def prepare_push(services: Services, opened: Opened) -> PushSetup:
    quota = await queries.get_owner_quota(services.pool, opened.repo.user_id)
    limits = limits_for(quota["creator_tier"] if quota else None)
    largest = max(limits.largest_file_bytes, (quota["max_file_override_bytes"] if quota else None) or 0)
    used = quota["storage_used_bytes"] if quota else 0
    hooks = await asyncio.to_thread(install_hooks, services)
    fd, report = tempfile.mkstemp(prefix="mnwd-push-", suffix=".refs")
    os.close(fd)
    return PushSetup(
        config=(
            "receive.fsckObjects=true",
            f"receive.maxInputSize={largest}",
            f"core.hooksPath={hooks}",
        ),
        env={
            "MNWD_QUOTA_LEFT": str(limits.storage_bytes - used),
            "MNWD_QUOTA_OWNER": opened.repo.owner,
            "MNWD_QUOTA_TIER": limits.tier,
            "MNWD_QUOTA_LIMIT": human_size(limits.storage_bytes),
            "MNWD_PUSH_REPORT": report,
        },
        report=Path(report),
        before=await read_refs(opened.path),
    )


def _read_report(path: Path) -> dict[str, tuple[str, str]] | None:
    """``{ref: (old, new)}`` from the post-receive report; ``None`` when git never wrote it."""
    try:
        if path.stat().st_size == 0:
            return None
        text = path.read_text(errors="replace")
    except OSError:
        return None
    updates = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            updates[parts[2]] = (parts[0], parts[1])
    return updates


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


async def finish_push(services: Services, opened: Opened, user: User, setup: PushSetup) -> list[PushedEvent]:
    try:
        reported = await asyncio.to_thread(_read_report, setup.report)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(setup.report)
    after = await read_refs(opened.path)
    if opened.created and not after:
        await remove_repo(services, opened.repo)
        return []
    if reported is None:
        before = setup.before
        reported = {
            ref: (before.get(ref, ZERO_SHA), after.get(ref, ZERO_SHA))
            for ref in before.keys() | after.keys()
            if before.get(ref) != after.get(ref)
        }
    changed = sorted(reported)
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
            old_sha=reported[ref][0],
            new_sha=reported[ref][1],
            pusher_id=user.user_id,
            pusher=user.username,
        )
        for ref in changed
    ]
    publish_pushed(services, events)
    return events
