"""What the /source/ pages show around a repository's content: checked paths, breadcrumbs, clone URLs,
human sizes, and the repo lists (per owner, and the recent public ones).

`clean_path(raw)` is the one check of a path inside a repository taken from a URL: it refuses NUL and
other control characters (400 ``nul-character`` / ``bad-request``), and ``..`` or ``.`` segments (400),
before the path reaches dulwich. Paths never reach the file system: they are looked up in git trees only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from mnwd.config import Config
from mnwd.errors import BadRequest
from mnwd.git.queries import source as queries
from mnwd.git.repos import Repo
from mnwd.services import Services

__all__ = [
    "Crumb",
    "RepoList",
    "breadcrumbs",
    "clean_path",
    "clone_urls",
    "human_size",
    "list_owner_repos",
    "list_recent_repos",
    "ssh_base",
    "url_path",
]

MAX_PATH_CHARS = 4096


def clean_path(raw: str) -> str:
    """``raw`` without leading or trailing slashes; 400 for NUL, control characters, ``.`` or ``..``."""
    if "\0" in raw:
        raise BadRequest("A path in a repository cannot hold a NUL character.", slug="nul-character")
    if len(raw) > MAX_PATH_CHARS or any(c < " " or c == "\x7f" for c in raw):
        raise BadRequest("A path in a repository cannot hold control characters.")
    path = raw.strip("/")
    if not path:
        return ""
    segments = path.split("/")
    if any(segment in {"", ".", ".."} for segment in segments):
        raise BadRequest("A path in a repository cannot hold empty, '.' or '..' segments.")
    return path


def url_path(path: str) -> str:
    """A repository path as it goes in a link (each segment percent-encoded, slashes kept)."""
    return quote(path, safe="/")


@dataclass(frozen=True)
class Crumb:
    name: str
    path: str


def breadcrumbs(path: str) -> list[Crumb]:
    crumbs: list[Crumb] = []
    parts = path.split("/") if path else []
    for index, part in enumerate(parts):
        crumbs.append(Crumb(part, "/".join(parts[: index + 1])))
    return crumbs


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def ssh_base(config: Config) -> str:
    """``ssh://git@HOST:PORT``: the host of the public URL (``MNWD_PUBLIC_URL``), the port ``MNWD_SSH_PORT``."""
    host = urlsplit(config.base_url).hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"ssh://git@{host}:{config.ssh_port}"


def clone_urls(config: Config, repo: Repo) -> dict[str, str]:
    """The SSH URL and, for a public repo, the HTTP one (read-only smart HTTP)."""
    urls = {"ssh": f"{ssh_base(config)}/{repo.owner}/{repo.name}.git"}
    if not repo.is_private:
        urls["http"] = f"{config.base_url}/source/{repo.owner}/{repo.name}.git"
    return urls


@dataclass(frozen=True)
class RepoList:
    owner: str | None
    repos: list[Repo]


async def list_owner_repos(services: Services, owner: str, viewer_id: uuid.UUID | None) -> RepoList | None:
    """The repos of ``owner`` the viewer may read; ``None`` when there is no such user."""
    owner_id = await queries.get_user_id(services.pool, owner)
    if owner_id is None:
        return None
    rows = await queries.list_repos_of(services.pool, owner_id, include_private=owner_id == viewer_id)
    return RepoList(owner, [Repo.from_row(r) for r in rows])


async def list_recent_repos(services: Services, limit: int = 50) -> list[Repo]:
    return [Repo.from_row(r) for r in await queries.list_recent_public_repos(services.pool, limit)]
