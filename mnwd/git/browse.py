"""Reading a bare repository for the /source/ browser: refs, trees, blobs, history and diffs, with dulwich.

Interface (all blocking: callers run them in a thread, `mnwd.git.pages_source` does)::

    snapshot = open_snapshot(path)                  # None when the bare repo is missing on disk
    refs = list_refs(snapshot)                      # branches and tags, names and commit ids
    commit = resolve(snapshot, "main")              # branch, tag, or a full/short commit id → Commit | None
    ref, path = split_ref_path(snapshot, "feature/x/src/a.py")   # the longest ref that exists wins
    entries = list_tree(snapshot, commit, "src")    # NotFound / NotADirectory
    blob = read_blob(snapshot, commit, "src/a.py", limit=...)    # size known; data only up to ``limit``
    page = list_commits(snapshot, commit, path="", offset=0, limit=30)
    changes = commit_changes(snapshot, commit)      # per-file unified diffs against the first parent
    readme = find_readme(entries)                   # the directory's README entry, if any

Native git where dulwich is slow: the commit ids of a history page come from ``git rev-list`` (a path's
history walked in Python diffs trees commit by commit: seconds on a long history, milliseconds natively).

Limits: a blob bigger than ``limit`` is never read whole here: its size comes from the object header
(`blob_size`, native ``git cat-file`` reading only the header) and raw downloads stream through
``git cat-file`` (`mnwd.git.pages_source`). Diffs stop after `MAX_DIFF_FILES` files and each file's diff
after `MAX_DIFF_LINES` lines; the walk for "last commit per entry" stops after `LAST_COMMIT_WALK` commits,
leaving older entries without one rather than reading the whole history, and is skipped for a directory of
more than `LAST_COMMIT_MAX_ENTRIES` entries.

Paths are checked by `mnwd.git.listing.clean_path` before they get here; refs are looked up by name in
the ref store only (never joined to a file path).
"""

from __future__ import annotations

import difflib
import itertools
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from dulwich.diff_tree import tree_changes
from dulwich.errors import NotGitRepository
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo as DulwichRepo

__all__ = [
    "LAST_COMMIT_WALK",
    "MAX_DIFF_FILES",
    "MAX_DIFF_LINES",
    "SHA_PREFIX",
    "BlobView",
    "Commit",
    "CommitInfo",
    "CommitPage",
    "FileChange",
    "NotADirectory",
    "NotAFile",
    "PathMissing",
    "RefList",
    "Snapshot",
    "TreeEntry",
    "blob_size",
    "commit_changes",
    "commit_info",
    "find_readme",
    "is_binary",
    "list_commits",
    "list_refs",
    "list_tree",
    "open_snapshot",
    "read_blob",
    "resolve",
    "split_ref_path",
]

LAST_COMMIT_WALK = 200
LAST_COMMIT_MAX_ENTRIES = 1000
MAX_DIFF_FILES = 300
MAX_DIFF_LINES = 3000
MAX_DIFF_BLOB_BYTES = 1 << 20
BINARY_SNIFF_BYTES = 8000
README_NAMES = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst")
SHA_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")

MODE_TREE = 0o040000
MODE_SUBMODULE = 0o160000
MODE_LINK = 0o120000


class PathMissing(LookupError):
    """Nothing at this path in this commit."""


class NotADirectory(LookupError):
    """The path names a file, not a directory."""


class NotAFile(LookupError):
    """The path names a directory or submodule, not a file."""


@dataclass
class Snapshot:
    """An open bare repository; `close` releases its pack files."""

    repo: DulwichRepo
    path: Path

    def close(self) -> None:
        self.repo.close()

    def __getitem__(self, sha: bytes) -> ShaFile:
        return self.repo[sha]


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    summary: str
    message: str
    author_name: str
    author_email: str
    authored_at: datetime
    parents: tuple[str, ...]


@dataclass(frozen=True)
class RefList:
    branches: list[tuple[str, str]]
    tags: list[tuple[str, str]]

    @property
    def empty(self) -> bool:
        return not self.branches and not self.tags


@dataclass
class TreeEntry:
    name: str
    path: str
    kind: str  # "tree", "blob", "link" or "submodule"
    sha: str
    last_commit: CommitInfo | None = None


@dataclass(frozen=True)
class BlobView:
    path: str
    sha: str
    size: int
    data: bytes | None  # None when the blob is bigger than the limit asked for
    binary: bool


@dataclass(frozen=True)
class CommitPage:
    commits: list[CommitInfo]
    has_more: bool


@dataclass
class FileChange:
    kind: str  # "add", "delete", "modify", "rename", "copy"
    old_path: str | None
    new_path: str | None
    binary: bool = False
    too_large: bool = False
    lines: list[str] = field(default_factory=list)
    truncated: bool = False
    added: int = 0
    removed: int = 0

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def open_snapshot(path: Path) -> Snapshot | None:
    if not path.is_dir():
        return None
    try:
        return Snapshot(DulwichRepo(str(path)), path)
    except NotGitRepository:
        return None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _commit_info(commit: Commit) -> CommitInfo:
    message = _decode(commit.message)
    name, _, email = _decode(commit.author).partition(" <")
    offset = timezone(timedelta(seconds=commit.author_timezone))
    sha = _decode(commit.id)
    return CommitInfo(
        sha=sha,
        short=sha[:10],
        summary=message.strip().splitlines()[0] if message.strip() else "",
        message=message,
        author_name=name,
        author_email=email.rstrip(">"),
        authored_at=datetime.fromtimestamp(commit.author_time, offset).astimezone(UTC),
        parents=tuple(_decode(p) for p in commit.parents),
    )


def _peel(snapshot: Snapshot, sha: bytes) -> Commit | None:
    try:
        obj = snapshot[sha]
        for _ in range(10):
            if not isinstance(obj, Tag):
                break
            obj = snapshot[obj.object[1]]
    except KeyError:
        return None
    return obj if isinstance(obj, Commit) else None


def list_refs(snapshot: Snapshot) -> RefList:
    refs = snapshot.repo.refs
    branches: list[tuple[str, str]] = []
    tags: list[tuple[str, str]] = []
    for prefix, target in ((Ref(b"refs/heads/"), branches), (Ref(b"refs/tags/"), tags)):
        for name, sha in sorted(refs.as_dict(prefix).items()):
            commit = _peel(snapshot, sha)
            if commit is not None:
                target.append((_decode(name), _decode(commit.id)))
    return RefList(branches, tags)


def resolve(snapshot: Snapshot, rev: str) -> Commit | None:
    """A branch, a tag or a commit id (full, or an unambiguous prefix of at least 4 hex digits)."""
    if not rev or ".." in rev or any(c < " " for c in rev):
        return None
    refs = snapshot.repo.refs
    encoded = rev.encode()
    for ref in (Ref(b"refs/heads/" + encoded), Ref(b"refs/tags/" + encoded)):
        try:
            sha = refs[ref]
        except KeyError:
            continue
        return _peel(snapshot, sha)
    if SHA_PREFIX.match(rev):
        if len(rev) == 40:
            return _peel(snapshot, encoded)
        # Pack indexes are sorted: a prefix lookup is a bisection, not a scan of every object.
        found = list(itertools.islice(snapshot.repo.object_store.iter_prefix(encoded), 2))
        if len(found) == 1:
            return _peel(snapshot, found[0])
    return None


def split_ref_path(snapshot: Snapshot, rest: str) -> tuple[str, Commit, str] | None:
    """``feature/x/src/a.py`` → (``feature/x``, its commit, ``src/a.py``): the longest leading ref that exists."""
    parts = rest.split("/")
    for cut in range(len(parts), 0, -1):
        ref = "/".join(parts[:cut])
        commit = resolve(snapshot, ref)
        if commit is not None:
            return ref, commit, "/".join(parts[cut:])
    return None


def _lookup(snapshot: Snapshot, commit: Commit, path: str) -> tuple[int, bytes]:
    if not path:
        return MODE_TREE, commit.tree
    try:
        mode, sha = tree_lookup_path(snapshot.repo.object_store.__getitem__, commit.tree, path.encode())
    except (KeyError, NotADirectoryError):
        raise PathMissing(path) from None
    return mode, sha


def _kind(mode: int) -> str:
    if mode & 0o170000 == MODE_TREE:
        return "tree"
    if mode & 0o170000 == MODE_SUBMODULE:
        return "submodule"
    if mode & 0o170000 == MODE_LINK:
        return "link"
    return "blob"


def list_tree(snapshot: Snapshot, commit: Commit, path: str, *, last_commits: bool = True) -> list[TreeEntry]:
    """The entries of the directory ``path``: directories first, then by name; each with the last commit
    that changed it when that commit is among the newest `LAST_COMMIT_WALK` of the history."""
    mode, sha = _lookup(snapshot, commit, path)
    if _kind(mode) != "tree":
        raise NotADirectory(path)
    tree = snapshot[sha]
    assert isinstance(tree, Tree)
    prefix = f"{path}/" if path else ""
    entries = [
        TreeEntry(_decode(item.path), prefix + _decode(item.path), _kind(item.mode), _decode(item.sha))
        for item in tree.iteritems()
    ]
    entries.sort(key=lambda e: (e.kind != "tree", e.name.lower()))
    if last_commits and 0 < len(entries) <= LAST_COMMIT_MAX_ENTRIES:
        _attach_last_commits(snapshot, commit, path, entries)
    return entries


def _dir_tree(snapshot: Snapshot, commit: Commit, path: str) -> bytes | None:
    if not path:
        root: bytes = commit.tree
        return root
    try:
        mode, sha = tree_lookup_path(snapshot.repo.object_store.__getitem__, commit.tree, path.encode())
    except (KeyError, NotADirectoryError):
        return None
    return sha if _kind(mode) == "tree" else None


def _tree_items(snapshot: Snapshot, sha: bytes | None) -> dict[bytes, bytes]:
    if sha is None:
        return {}
    tree = snapshot[sha]
    assert isinstance(tree, Tree)
    return {item.path: item.sha for item in tree.iteritems() if item.path is not None and item.sha is not None}


def _attach_last_commits(snapshot: Snapshot, commit: Commit, path: str, entries: list[TreeEntry]) -> None:
    """Walks at most `LAST_COMMIT_WALK` commits, newest first, comparing only the directory's own tree with
    its first parent's (equal subtrees are skipped by id), so the cost is bounded whatever the history."""
    by_name = {e.name.encode(): e for e in entries}
    missing = set(by_name)
    for walk_entry in snapshot.repo.get_walker(include=[commit.id], max_entries=LAST_COMMIT_WALK):
        current = walk_entry.commit
        mine = _dir_tree(snapshot, current, path)
        if mine is None:
            continue
        parent_tree = None
        if current.parents:
            parent = snapshot[current.parents[0]]
            assert isinstance(parent, Commit)
            parent_tree = _dir_tree(snapshot, parent, path)
        if parent_tree == mine:
            continue
        new, old = _tree_items(snapshot, mine), _tree_items(snapshot, parent_tree)
        info: CommitInfo | None = None
        for name in [n for n in missing if new.get(n) != old.get(n)]:
            info = info or _commit_info(current)
            by_name[name].last_commit = info
            missing.discard(name)
        if not missing:
            break


def is_binary(data: bytes) -> bool:
    head = data[:BINARY_SNIFF_BYTES]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is still text.
        return exc.start < len(head) - 4
    return False


def blob_size(repo_path: Path, sha: str) -> int:
    """The blob's size from its header alone (native git reads no more), so a huge file is never loaded."""
    result = subprocess.run(
        ["git", "--git-dir", str(repo_path), "cat-file", "-s", sha],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return int(result.stdout.strip())


def read_blob(snapshot: Snapshot, commit: Commit, path: str, *, limit: int) -> BlobView:
    mode, sha = _lookup(snapshot, commit, path)
    kind = _kind(mode)
    if kind in {"tree", "submodule"}:
        raise NotAFile(path)
    size = blob_size(snapshot.path, _decode(sha))
    if size > limit:
        return BlobView(path, _decode(sha), size, None, binary=False)
    blob = snapshot[sha]
    assert isinstance(blob, Blob)
    data = blob.as_raw_string()
    return BlobView(path, _decode(sha), size, data, binary=is_binary(data))


def list_commits(snapshot: Snapshot, commit: Commit, *, path: str = "", offset: int, limit: int) -> CommitPage:
    """Newest first from ``commit`` (only those changing ``path`` when given): ``limit`` after ``offset``.

    The ids come from native ``git rev-list`` (history simplification as ``git log -- path`` does it, and
    20-100x faster than walking trees in Python on a long history); ``--literal-pathspecs`` so a file
    named like pathspec magic (``:(glob)*``) is only itself. dulwich then reads the commits."""
    args = ["git", "--git-dir", str(snapshot.path), "--literal-pathspecs", "rev-list"]
    args += [f"--skip={offset}", f"--max-count={limit + 1}", _decode(commit.id)]
    if path:
        args += ["--", path]
    result = subprocess.run(args, capture_output=True, check=True, timeout=60)
    taken = []
    for line in result.stdout.split():
        found = snapshot[line]
        assert isinstance(found, Commit)
        taken.append(_commit_info(found))
    return CommitPage(taken[:limit], has_more=len(taken) > limit)


def commit_info(commit: Commit) -> CommitInfo:
    return _commit_info(commit)


def _blob_lines(snapshot: Snapshot, sha: bytes | None) -> tuple[list[str] | None, bool, bool]:
    """(lines, binary, too_large) of a blob side of a change."""
    if sha is None:
        return [], False, False
    blob = snapshot[sha]
    if not isinstance(blob, Blob):
        return [], False, False
    if blob.raw_length() > MAX_DIFF_BLOB_BYTES:
        return None, False, True
    data = blob.as_raw_string()
    if is_binary(data):
        return None, True, False
    return _decode(data).splitlines(), False, False


def commit_changes(snapshot: Snapshot, commit: Commit) -> tuple[list[FileChange], bool]:
    """Per-file unified diffs against the first parent (the empty tree for a root commit), and whether more
    than `MAX_DIFF_FILES` files changed (the rest are left out)."""
    parent_tree = None
    if commit.parents:
        parent = snapshot[commit.parents[0]]
        assert isinstance(parent, Commit)
        parent_tree = parent.tree
    changes: list[FileChange] = []
    more = False
    for change in tree_changes(snapshot.repo.object_store, parent_tree, commit.tree):
        if len(changes) == MAX_DIFF_FILES:
            more = True
            break
        old, new = change.old, change.new
        item = FileChange(
            kind=change.type,
            old_path=_decode(old.path) if old is not None and old.path is not None else None,
            new_path=_decode(new.path) if new is not None and new.path is not None else None,
        )
        old_sha = old.sha if old is not None and old.mode is not None and _kind(old.mode) == "blob" else None
        new_sha = new.sha if new is not None and new.mode is not None and _kind(new.mode) == "blob" else None
        old_lines, old_binary, old_large = _blob_lines(snapshot, old_sha)
        new_lines, new_binary, new_large = _blob_lines(snapshot, new_sha)
        item.binary = old_binary or new_binary
        item.too_large = old_large or new_large
        if old_lines is not None and new_lines is not None:
            diff = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=3))[2:]
            item.truncated = len(diff) > MAX_DIFF_LINES
            item.lines = diff[:MAX_DIFF_LINES]
            item.added = sum(1 for line in diff if line.startswith("+"))
            item.removed = sum(1 for line in diff if line.startswith("-"))
        changes.append(item)
    return changes, more


def find_readme(entries: list[TreeEntry]) -> TreeEntry | None:
    """The directory's README, by the first name of `README_NAMES` present (any case)."""
    by_name = {e.name.lower(): e for e in entries if e.kind == "blob"}
    for name in README_NAMES:
        if name in by_name:
            return by_name[name]
    return None
