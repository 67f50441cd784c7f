"""A repository's settings, changed by its owner: description, visibility, default branch, name; and deleting it.

Interface (``repo`` as found by `mnwd.git.source.readable_repo`; anyone but the owner gets `NotFound`, as for
a private repo, so settings never confirm that a repo exists)::

    repo = await create_repo(services, owner_id, owner, name, description=, is_private=)  # 409, 422
    repo = owned_repo(repo, actor_id)
    await save_settings(services, repo, description=, is_private=, default_branch=)
    repo = await rename_repo(services, repo, new_name)      # 409 repo-name-taken, 422 a bad name
    await delete_repo(services, repo)                       # the row (issues cascade), then the bare repo

Races handled: a create racing another create (or a first push) of the same name: one row wins the unique
key, the other is a 409 (the bare repo is made after the row, by id, so a loser makes nothing). A rename
that collides with a concurrent create or rename of the same name fails on
``git_repos_user_id_name_key`` (409), never two repos of one name. Deleting removes the row first; the bare
repo is moved aside (one ``rename``, atomic) and removed only after the commit, so a rolled-back delete leaves
it in place and a concurrent reader sees either the whole repo or none. Changing the default branch also
points the bare repo's ``HEAD`` at it (``git symbolic-ref``), so a fresh clone checks it out.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.git import browse
from mnwd.git.queries import repos as repo_queries
from mnwd.git.queries import source as queries
from mnwd.git.repos import Repo, can_write, init_bare, parse_repo_path, repo_dir
from mnwd.services import Services

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "create_repo",
    "delete_repo",
    "owned_repo",
    "rename_repo",
    "save_settings",
    "valid_branch_name",
    "valid_repo_name",
]

MAX_DESCRIPTION_CHARS = 500
NO_SUCH_REPO = "There is no such repository, or it is private."
BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,99}$")


def owned_repo(repo: Repo, actor_id: uuid.UUID | None) -> Repo:
    if not can_write(repo, actor_id):
        raise NotFound(NO_SUCH_REPO)
    return repo


NAME_ERROR = {
    "field": "name",
    "message": "Use 1 to 100 letters, digits, '.', '-' or '_', not starting with '.' and not ending in .git.",
}


def valid_repo_name(owner: str, name: str) -> bool:
    return parse_repo_path(f"{owner}/{name}") == (owner, name) and not name.startswith(".")


def _description_error(description: str) -> dict[str, str] | None:
    if len(description) > MAX_DESCRIPTION_CHARS or any(c < " " or c == "\x7f" for c in description):
        return {"field": "description", "message": f"Use at most {MAX_DESCRIPTION_CHARS} characters on one line."}
    return None


async def create_repo(
    services: Services, owner_id: uuid.UUID, owner: str, name: str, *, description: str, is_private: bool
) -> Repo:
    """A new, empty repository: the row, then the bare repo (its directory named by the row's id)."""
    name = name.strip()
    description = description.strip()
    errors = [] if valid_repo_name(owner, name) else [NAME_ERROR]
    described = _description_error(description)
    if described is not None:
        errors.append(described)
    if errors:
        raise ValidationFailed("The repository was not created.", errors=errors)
    row = await repo_queries.insert_repo(services.pool, owner_id, name, is_private=is_private, description=description)
    if row is None:
        raise Conflict(f"You already have a repository named {name}.", slug="repo-name-taken")
    repo = Repo.from_row(row)
    try:
        await init_bare(repo_dir(services, repo.id), repo.default_branch)
    except BaseException:
        await repo_queries.delete_repo(services.pool, repo.id)
        raise
    return repo


def valid_branch_name(name: str) -> bool:
    """A branch name git accepts (`git check-ref-format --branch`), restricted to a safe alphabet."""
    return bool(
        BRANCH.match(name)
        and ".." not in name
        and "//" not in name
        and "/." not in name
        and not name.endswith(("/", ".", ".lock"))
    )


def _branches(services: Services, repo: Repo) -> list[str]:
    snapshot = browse.open_snapshot(repo_dir(services, repo.id))
    if snapshot is None:
        return []
    try:
        return [name for name, _ in browse.list_refs(snapshot).branches]
    finally:
        snapshot.close()


def _point_head(services: Services, repo: Repo, branch: str) -> None:
    path = repo_dir(services, repo.id)
    if path.is_dir():
        subprocess.run(
            ["git", "--git-dir", str(path), "symbolic-ref", "HEAD", f"refs/heads/{branch}"],
            capture_output=True,
            check=True,
            timeout=30,
        )


async def save_settings(
    services: Services, repo: Repo, *, description: str, is_private: bool, default_branch: str
) -> None:
    description = description.strip()
    default_branch = default_branch.strip()
    errors = []
    described = _description_error(description)
    if described is not None:
        errors.append(described)
    branches = await asyncio.to_thread(_branches, services, repo)
    if not valid_branch_name(default_branch):
        errors.append({"field": "default_branch", "message": "Use a branch name such as main."})
    elif branches and default_branch not in branches:
        errors.append({"field": "default_branch", "message": f"There is no branch {default_branch}."})
    if errors:
        raise ValidationFailed("The settings were not saved.", errors=errors)
    updated = await queries.update_repo_settings(
        services.pool, repo.id, description=description, is_private=is_private, default_branch=default_branch
    )
    if not updated:
        raise NotFound(NO_SUCH_REPO)
    if default_branch != repo.default_branch:
        await asyncio.to_thread(_point_head, services, repo, default_branch)


async def rename_repo(services: Services, repo: Repo, new_name: str) -> Repo:
    new_name = new_name.strip()
    if not valid_repo_name(repo.owner, new_name):
        raise ValidationFailed("The repository was not renamed.", errors=[NAME_ERROR])
    if new_name == repo.name:
        return repo

    async def rename(tx: Tx) -> bool:
        return await queries.rename_repo(tx.conn, repo.id, new_name)

    if not await run_tx(services.pool, "git.rename_repo", rename, metrics=services.metrics):
        raise Conflict(f"You already have a repository named {new_name}.", slug="repo-name-taken")
    row = await repo_queries.get_repo(services.pool, repo.id)
    if row is None:
        raise NotFound(NO_SUCH_REPO)
    return Repo.from_row(row)


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


async def delete_repo(services: Services, repo: Repo) -> None:
    path = repo_dir(services, repo.id)
    trash = path.with_name(f"{path.name}.deleted-{uuid.uuid4().hex}")

    async def delete(tx: Tx) -> None:
        if not await queries.delete_repo(tx.conn, repo.id):
            raise NotFound(NO_SUCH_REPO)

        async def remove_from_disk() -> None:
            if path.is_dir():
                path.rename(trash)
                await asyncio.to_thread(_remove, str(trash))

        tx.after_commit(remove_from_disk)

    await run_tx(services.pool, "git.delete_repo", delete, metrics=services.metrics)
