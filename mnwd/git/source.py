"""The /source/ browser's views of one repository: what each page shows, read with `mnwd.git.browse`.

Interface (each an async function the pages call; dulwich runs in a worker thread, so a big tree or a long
history never blocks the event loop)::

    repo = await readable_repo(services, owner, name, viewer_id)    # NotFound for missing *and* private
    view = await repo_overview(services, repo)                      # refs, root tree, README (or empty)
    view = await tree_view(services, repo, rest)                    # rest = "<ref>/<path>"
    view = await file_view(services, repo, rest)                    # highlighted lines, or why not
    page = await log_view(services, repo, rest, page=n)             # 30 commits a page
    view = await commit_view(services, repo, sha)
    blob, chunks = await raw_blob(services, repo, rest)             # streamed from `git cat-file`
    view = await blame_view(services, repo, rest)                   # native `git blame --porcelain`

A private repo answers exactly like a missing one to anyone but its owner, so its name does not leak. Every
path from a URL goes through `listing.clean_path` first; refs are looked up in the ref store only.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from markupsafe import Markup

from mnwd.errors import NotFound
from mnwd.git import browse, highlight, listing
from mnwd.git.repos import Repo, can_read, find_repo, repo_dir
from mnwd.services import Services
from mnwd.web.markdown import render_markdown

__all__ = [
    "COMMITS_PER_PAGE",
    "DISPLAY_MAX_BYTES",
    "MAX_LOG_PAGE",
    "BlameView",
    "CommitView",
    "FileView",
    "LogView",
    "Overview",
    "RawBlob",
    "TreeView",
    "blame_view",
    "commit_view",
    "file_view",
    "log_view",
    "raw_blob",
    "readable_repo",
    "refs_view",
    "repo_overview",
    "tree_view",
]

COMMITS_PER_PAGE = 30
MAX_LOG_PAGE = 500
DISPLAY_MAX_BYTES = 1 << 20
README_MAX_BYTES = 512 * 1024
RAW_CHUNK = 64 * 1024
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".ico": "image/x-icon"}  # fmt: skip
NO_SUCH_REPO = "There is no such repository, or it is private."
NO_SUCH_REF = "There is no such branch, tag or commit in this repository."
NO_SUCH_PATH = "There is no such file or directory at this revision."

T = TypeVar("T")


async def readable_repo(services: Services, owner: str, name: str, viewer_id: uuid.UUID | None) -> Repo:
    repo = await find_repo(services, owner, name)
    if repo is None or not can_read(repo, viewer_id):
        raise NotFound(NO_SUCH_REPO)
    return repo


async def _with_snapshot(services: Services, repo: Repo, read: Callable[[browse.Snapshot | None], T]) -> T:
    path = repo_dir(services, repo.id)

    def run() -> T:
        snapshot = browse.open_snapshot(path)
        try:
            return read(snapshot)
        finally:
            if snapshot is not None:
                snapshot.close()

    return await asyncio.to_thread(run)


def _locate(snapshot: browse.Snapshot | None, rest: str) -> tuple[str, browse.Commit, str]:
    if snapshot is None:
        raise NotFound(NO_SUCH_REF)
    found = browse.split_ref_path(snapshot, rest)
    if found is None:
        raise NotFound(NO_SUCH_REF)
    return found


@dataclass(frozen=True)
class Readme:
    name: str
    html: Markup


@dataclass(frozen=True)
class TreeView:
    ref: str
    commit: browse.CommitInfo
    path: str
    crumbs: list[listing.Crumb]
    entries: list[browse.TreeEntry]
    readme: Readme | None


@dataclass(frozen=True)
class Overview:
    refs: browse.RefList
    tree: TreeView | None  # None for an empty repository


def _readme(snapshot: browse.Snapshot, commit: browse.Commit, entries: list[browse.TreeEntry]) -> Readme | None:
    entry = browse.find_readme(entries)
    if entry is None:
        return None
    blob = browse.read_blob(snapshot, commit, entry.path, limit=README_MAX_BYTES)
    if blob.data is None or blob.binary:
        return None
    text = blob.data.decode("utf-8", errors="replace")
    if entry.name.lower().endswith((".md", ".markdown")):
        return Readme(entry.name, render_markdown(text))
    return Readme(entry.name, Markup("<pre>{}</pre>").format(text))


def _tree(snapshot: browse.Snapshot, ref: str, commit: browse.Commit, path: str) -> TreeView:
    try:
        entries = browse.list_tree(snapshot, commit, path)
    except browse.PathMissing:
        raise NotFound(NO_SUCH_PATH) from None
    return TreeView(
        ref,
        browse.commit_info(commit),
        path,
        listing.breadcrumbs(path),
        entries,
        _readme(snapshot, commit, entries),
    )


async def repo_overview(services: Services, repo: Repo) -> Overview:
    def read(snapshot: browse.Snapshot | None) -> Overview:
        if snapshot is None:
            return Overview(browse.RefList([], []), None)
        refs = browse.list_refs(snapshot)
        names = [name for name, _ in refs.branches]
        ref = repo.default_branch if repo.default_branch in names else (names[0] if names else None)
        if ref is None:
            ref = refs.tags[0][0] if refs.tags else None
        commit = browse.resolve(snapshot, ref) if ref else None
        if ref is None or commit is None:
            return Overview(refs, None)
        return Overview(refs, _tree(snapshot, ref, commit, ""))

    return await _with_snapshot(services, repo, read)


async def refs_view(services: Services, repo: Repo) -> browse.RefList:
    return await _with_snapshot(
        services, repo, lambda s: browse.list_refs(s) if s is not None else browse.RefList([], [])
    )


async def tree_view(services: Services, repo: Repo, rest: str) -> tuple[TreeView, browse.RefList]:
    rest = listing.clean_path(rest)

    def read(snapshot: browse.Snapshot | None) -> tuple[TreeView, browse.RefList]:
        ref, commit, path = _locate(snapshot, rest)
        assert snapshot is not None
        try:
            return _tree(snapshot, ref, commit, path), browse.list_refs(snapshot)
        except browse.NotADirectory:
            raise NotFound(NO_SUCH_PATH) from None

    return await _with_snapshot(services, repo, read)


@dataclass(frozen=True)
class FileView:
    ref: str
    commit: browse.CommitInfo
    path: str
    name: str
    crumbs: list[listing.Crumb]
    size: str
    language: str
    lines: list[Markup] | None  # None: binary or too large to show
    image: bool
    binary: bool
    too_large: bool
    markdown: Markup | None


async def file_view(services: Services, repo: Repo, rest: str) -> tuple[FileView, browse.RefList]:
    rest = listing.clean_path(rest)

    def read(snapshot: browse.Snapshot | None) -> tuple[FileView, browse.RefList]:
        ref, commit, path = _locate(snapshot, rest)
        assert snapshot is not None
        if not path:
            raise NotFound(NO_SUCH_PATH)
        try:
            blob = browse.read_blob(snapshot, commit, path, limit=DISPLAY_MAX_BYTES)
        except (browse.PathMissing, browse.NotAFile):
            raise NotFound(NO_SUCH_PATH) from None
        name = path.rsplit("/", 1)[-1]
        lines = None
        markdown = None
        if blob.data is not None and not blob.binary:
            text = blob.data.decode("utf-8", errors="replace")
            lines = highlight.highlight_lines(name, text)
            if name.lower().endswith((".md", ".markdown")) and blob.size <= README_MAX_BYTES:
                markdown = render_markdown(text)
        view = FileView(
            ref=ref,
            commit=browse.commit_info(commit),
            path=path,
            name=name,
            crumbs=listing.breadcrumbs(path),
            size=listing.human_size(blob.size),
            language=highlight.language_name(name),
            lines=lines,
            image=Path(name).suffix.lower() in IMAGE_TYPES,
            binary=blob.binary,
            too_large=blob.data is None,
            markdown=markdown,
        )
        return view, browse.list_refs(snapshot)

    return await _with_snapshot(services, repo, read)


@dataclass(frozen=True)
class LogView:
    ref: str
    path: str
    page: int
    commits: list[browse.CommitInfo]
    has_more: bool


async def log_view(services: Services, repo: Repo, rest: str, *, page: int) -> tuple[LogView, browse.RefList]:
    rest = listing.clean_path(rest)
    page = min(max(page, 1), MAX_LOG_PAGE)

    def read(snapshot: browse.Snapshot | None) -> tuple[LogView, browse.RefList]:
        ref, commit, path = _locate(snapshot, rest)
        assert snapshot is not None
        found = browse.list_commits(
            snapshot, commit, path=path, offset=(page - 1) * COMMITS_PER_PAGE, limit=COMMITS_PER_PAGE
        )
        return LogView(ref, path, page, found.commits, found.has_more), browse.list_refs(snapshot)

    return await _with_snapshot(services, repo, read)


@dataclass(frozen=True)
class CommitView:
    commit: browse.CommitInfo
    files: list[browse.FileChange]
    more_files: bool


async def commit_view(services: Services, repo: Repo, sha: str) -> CommitView:
    sha = sha.lower()
    if not browse.SHA_PREFIX.match(sha):
        raise NotFound(NO_SUCH_REF)

    def read(snapshot: browse.Snapshot | None) -> CommitView:
        commit = browse.resolve(snapshot, sha) if snapshot is not None else None
        if commit is None or snapshot is None:
            raise NotFound(NO_SUCH_REF)
        files, more = browse.commit_changes(snapshot, commit)
        return CommitView(browse.commit_info(commit), files, more)

    return await _with_snapshot(services, repo, read)


@dataclass(frozen=True)
class RawBlob:
    name: str
    size: int
    content_type: str


def _content_type(name: str, first: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix]
    if browse.is_binary(first):
        return "application/octet-stream"
    # Text of any kind (HTML and SVG included) is served as plain text, never rendered on our origin.
    guessed = mimetypes.guess_type(name)[0] or ""
    return "text/plain; charset=utf-8" if guessed != "application/pdf" else guessed


async def raw_blob(services: Services, repo: Repo, rest: str) -> tuple[RawBlob, AsyncGenerator[bytes, None]]:
    """The blob's type, size and its bytes in chunks, read by ``git cat-file`` (never held whole). Close the
    generator (``contextlib.aclosing``) so a client gone mid-download ends the process."""
    rest = listing.clean_path(rest)

    def read(snapshot: browse.Snapshot | None) -> tuple[str, str, int]:
        _, commit, path = _locate(snapshot, rest)
        assert snapshot is not None
        try:
            blob = browse.read_blob(snapshot, commit, path, limit=0)
        except (browse.PathMissing, browse.NotAFile):
            raise NotFound(NO_SUCH_PATH) from None
        return path.rsplit("/", 1)[-1], blob.sha, blob.size

    name, sha, size = await _with_snapshot(services, repo, read)
    process = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(repo_dir(services, repo.id)),
        "cat-file",
        "blob",
        sha,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    stdout = process.stdout
    first = await stdout.read(RAW_CHUNK) if size else b""

    async def chunks() -> AsyncGenerator[bytes, None]:
        try:
            if first:
                yield first
            while chunk := await stdout.read(RAW_CHUNK):
                yield chunk
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()

    return RawBlob(name, size, _content_type(name, first)), chunks()


BLAME_MAX_BYTES = 256 * 1024
BLAME_HEADER = re.compile(r"^[0-9a-f]{40} \d+ \d+( \d+)?$")


@dataclass(frozen=True)
class BlameLine:
    number: int
    html: Markup
    sha: str | None  # set on the first line of each run of lines from one commit
    summary: str
    author: str


@dataclass(frozen=True)
class BlameView:
    ref: str
    path: str
    crumbs: list[listing.Crumb]
    lines: list[BlameLine] | None  # None: binary or too large to blame
    size: str


def _parse_porcelain(output: str) -> list[tuple[str, str, str]]:
    """(sha, summary, author) per line of the file, from ``git blame --porcelain``: a header line per line
    (``<sha> <orig> <final> [<count>]``), the commit's fields the first time it appears, then the line
    itself after a TAB."""
    commits: dict[str, dict[str, str]] = {}
    result: list[tuple[str, str, str]] = []
    current = ""
    for line in output.split("\n"):
        if line.startswith("\t"):
            info = commits.get(current, {})
            result.append((current, info.get("summary", ""), info.get("author", "")))
        elif BLAME_HEADER.match(line):
            current = line[:40]
            commits.setdefault(current, {})
        elif current:
            key, _, value = line.partition(" ")
            if key in {"summary", "author"}:
                commits[current].setdefault(key, value)
    return result


async def blame_view(services: Services, repo: Repo, rest: str) -> BlameView:
    """Who last changed each line, by the native ``git blame`` (dulwich has none); text files up to
    `BLAME_MAX_BYTES` only."""
    rest = listing.clean_path(rest)

    def read(snapshot: browse.Snapshot | None) -> tuple[str, str, str, browse.BlobView]:
        ref, commit, path = _locate(snapshot, rest)
        assert snapshot is not None
        if not path:
            raise NotFound(NO_SUCH_PATH)
        try:
            blob = browse.read_blob(snapshot, commit, path, limit=BLAME_MAX_BYTES)
        except (browse.PathMissing, browse.NotAFile):
            raise NotFound(NO_SUCH_PATH) from None
        return ref, commit.id.decode(), path, blob

    ref, sha, path, blob = await _with_snapshot(services, repo, read)
    view = BlameView(ref, path, listing.breadcrumbs(path), None, listing.human_size(blob.size))
    if blob.data is None or blob.binary or not blob.data:
        return view
    process = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(repo_dir(services, repo.id)),
        "blame",
        "--porcelain",
        sha,
        "--",
        path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        return view
    owners = _parse_porcelain(output.decode("utf-8", errors="replace"))
    html = highlight.highlight_lines(path.rsplit("/", 1)[-1], blob.data.decode("utf-8", errors="replace"))
    lines = []
    previous = None
    for number, (fragment, (line_sha, summary, author)) in enumerate(zip(html, owners, strict=False), start=1):
        first = line_sha != previous
        previous = line_sha
        lines.append(BlameLine(number, fragment, line_sha if first else None, summary, author))
    return BlameView(view.ref, path, view.crumbs, lines, view.size)
