"""The issue tracker of a repository: open, list and filter, comment, close and reopen, labels.

Interface (``repo`` is a `Repo` the caller already may read, see `mnwd.git.source.readable_repo`)::

    issue = await open_issue(services, repo, author_id, title=..., body=..., labels=[...])
    page = await list_issues(services, repo, status="open", label=None, page=1)
    issue, comments = await get_issue(services, repo, number)            # NotFound
    await add_comment(services, repo, number, author_id, body)
    await set_status(services, repo, number, actor_id, "closed")         # owner or author, else 403
    await change_issue(services, repo, number, actor_id, state=, title=, body=, labels=)  # all or nothing
    require_author_or_owner(repo, issue, actor_id)                       # 403 unless the author or owner
    labels = await list_labels(services, repo); await create_label(...); await delete_label(...)
    await set_labels(services, repo, number, actor_id, names)            # owner only

Who may do what: anyone who can read the repo and is signed in opens issues and comments; the issue's author
and the repo's owner close, reopen and edit it; only the owner manages labels and labels issues.

Races handled: numbers are taken with one ``UPDATE git_repos SET next_issue_number = next_issue_number + 1
RETURNING`` in the transaction that inserts the issue: the row lock orders concurrent openers, a rolled-back
attempt gives its number back, and no two issues share one. Creating a label that exists is a 409
(``ON CONFLICT DO NOTHING``, no check-then-insert). The owner's mail about a new issue is a durable job
(`ISSUE_MAIL`) enqueued in that same transaction, so it exists exactly when the issue does; the job reads
``notify_issues`` when it runs, so turning mail off before it runs still counts, and it does nothing for an
issue deleted meanwhile.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from mnwd.db.jobs import Job, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.git.queries import issues as queries
from mnwd.git.repos import Repo, can_write
from mnwd.mail import Mail
from mnwd.outbound import notify
from mnwd.services import Services

__all__ = [
    "ISSUES_PER_PAGE",
    "ISSUE_MAIL",
    "STATUSES",
    "Comment",
    "Issue",
    "IssuePage",
    "Label",
    "add_comment",
    "change_issue",
    "create_label",
    "delete_label",
    "get_issue",
    "list_issues",
    "list_labels",
    "open_issue",
    "require_author_or_owner",
    "send_issue_mail",
    "set_labels",
    "set_status",
]

ISSUE_MAIL = "git.issue_mail"
ISSUES_PER_PAGE = 25
MAX_PAGE = 1000
MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 65_536
MAX_LABEL_CHARS = 50
MAX_LABELS = 20
STATUSES = ("open", "closed")
COLOR = re.compile(r"^#[0-9a-f]{6}$")
NO_SUCH_ISSUE = "There is no such issue in this repository."


@dataclass(frozen=True)
class Label:
    id: uuid.UUID
    name: str
    color: str
    description: str | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Label:
        return cls(row["id"], row["name"], row["color"], row["description"])


@dataclass(frozen=True)
class Issue:
    id: uuid.UUID
    number: int
    title: str
    body: str
    status: str
    author: str
    author_user_id: uuid.UUID
    comment_count: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    labels: list[Label] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: asyncpg.Record, labels: list[Label]) -> Issue:
        return cls(
            row["id"],
            row["number"],
            row["title"],
            row["body"],
            row["status"],
            row["author"],
            row["author_user_id"],
            row["comment_count"],
            row["created_at"],
            row["updated_at"],
            row["closed_at"],
            labels,
        )


@dataclass(frozen=True)
class Comment:
    id: uuid.UUID
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class IssuePage:
    issues: list[Issue]
    status: str | None
    label: str | None
    page: int
    has_more: bool
    counts: dict[str, int]


def _has_control(text: str) -> bool:
    return any((c < " " and c not in "\t\n\r") or c == "\x7f" for c in text)


def _check_title(title: str) -> list[dict[str, str]]:
    if not title:
        return [{"field": "title", "message": "Give the issue a title."}]
    if len(title) > MAX_TITLE_CHARS or _has_control(title) or "\n" in title:
        return [{"field": "title", "message": f"Use 1 to {MAX_TITLE_CHARS} characters on one line."}]
    return []


def _check_body(body: str, name: str = "body", *, required: bool = False) -> list[dict[str, str]]:
    if required and not body.strip():
        return [{"field": name, "message": "Write something first."}]
    if len(body) > MAX_BODY_CHARS or "\0" in body:
        return [{"field": name, "message": f"Use at most {MAX_BODY_CHARS:,} characters (and no NUL)."}]
    return []


async def _labels_for(conn: asyncpg.Pool | asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Label]]:
    found: dict[uuid.UUID, list[Label]] = {i: [] for i in ids}
    for row in await queries.labels_of_issues(conn, ids):
        found[row["issue_id"]].append(Label.from_row(row))
    return found


def _check_label_names(names: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if len(cleaned) > MAX_LABELS:
        raise ValidationFailed(
            "Too many labels.", errors=[{"field": "labels", "message": f"Use at most {MAX_LABELS} labels."}]
        )
    return cleaned


async def _assign(tx: Tx, repo: Repo, issue_id: uuid.UUID, names: list[str]) -> None:
    unknown = await queries.set_issue_labels(tx.conn, repo.id, issue_id, names)
    if unknown:
        raise ValidationFailed(
            "The issue was not saved.",
            errors=[{"field": "labels", "message": f"This repository has no label {', '.join(unknown)}."}],
        )


async def open_issue(
    services: Services,
    repo: Repo,
    author_id: uuid.UUID,
    *,
    title: str,
    body: str,
    labels: list[str] | None = None,
) -> Issue:
    title = title.strip()
    errors = _check_title(title) + _check_body(body)
    names = _check_label_names(labels or [])
    if names and not can_write(repo, author_id):
        errors.append({"field": "labels", "message": "Only the repository's owner labels issues."})
    if errors:
        raise ValidationFailed("The issue was not opened.", errors=errors)

    async def body_(tx: Tx) -> int:
        number = await queries.take_issue_number(tx.conn, repo.id)
        if number is None:
            raise NotFound("This repository was deleted.")
        issue_id = await queries.insert_issue(tx.conn, repo.id, number, author_id, title, body)
        if names:
            await _assign(tx, repo, issue_id, names)
        if author_id != repo.user_id:
            await enqueue(tx.conn, ISSUE_MAIL, {"issue_id": str(issue_id)}, key=f"issue:{issue_id}")
            tx.after_commit(services.jobs.wake)
        return number

    number = await run_tx(services.pool, "git.open_issue", body_, metrics=services.metrics)
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    return issue


async def list_issues(
    services: Services, repo: Repo, *, status: str | None, label: str | None, page: int = 1
) -> IssuePage:
    if status not in (None, *STATUSES):
        raise ValidationFailed("Unknown status.", errors=[{"field": "state", "message": "Use open, closed or all."}])
    page = min(max(page, 1), MAX_PAGE)
    label = label.strip() if label else None
    rows = await queries.list_issues(
        services.pool,
        repo.id,
        status=status,
        label=label or None,
        limit=ISSUES_PER_PAGE + 1,
        offset=(page - 1) * ISSUES_PER_PAGE,
    )
    labels = await _labels_for(services.pool, [r["id"] for r in rows[:ISSUES_PER_PAGE]])
    issues = [Issue.from_row(r, labels[r["id"]]) for r in rows[:ISSUES_PER_PAGE]]
    counts = await queries.count_issues(services.pool, repo.id, label=label or None)
    return IssuePage(issues, status, label or None, page, len(rows) > ISSUES_PER_PAGE, counts)


async def get_issue(
    services: Services, repo: Repo, number: int, *, with_comments: bool = True
) -> tuple[Issue, list[Comment]]:
    row = await queries.get_issue(services.pool, repo.id, number) if 0 < number < 2**31 else None
    if row is None:
        raise NotFound(NO_SUCH_ISSUE)
    labels = await _labels_for(services.pool, [row["id"]])
    comments = (
        [
            Comment(c["id"], c["author"], c["body"], c["created_at"])
            for c in await queries.list_comments(services.pool, row["id"])
        ]
        if with_comments
        else []
    )
    return Issue.from_row(row, labels[row["id"]]), comments


async def add_comment(services: Services, repo: Repo, number: int, author_id: uuid.UUID, body: str) -> Comment:
    errors = _check_body(body, required=True)
    if errors:
        raise ValidationFailed("The comment was not added.", errors=errors)
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    comment_id = await queries.insert_comment(services.pool, issue.id, author_id, body)
    comments = await queries.list_comments(services.pool, issue.id)
    found = next(c for c in comments if c["id"] == comment_id)
    return Comment(found["id"], found["author"], found["body"], found["created_at"])


def require_author_or_owner(repo: Repo, issue: Issue, actor_id: uuid.UUID) -> None:
    if actor_id not in (repo.user_id, issue.author_user_id):
        raise Forbidden("Only the issue's author and the repository's owner can change it.")


async def set_status(services: Services, repo: Repo, number: int, actor_id: uuid.UUID, status: str) -> Issue:
    if status not in STATUSES:
        raise ValidationFailed("Unknown status.", errors=[{"field": "state", "message": "Use open or closed."}])
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    require_author_or_owner(repo, issue, actor_id)
    await queries.set_issue_status(services.pool, issue.id, status)
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    return issue


async def change_issue(
    services: Services,
    repo: Repo,
    number: int,
    actor_id: uuid.UUID,
    *,
    state: str | None = None,
    title: str | None = None,
    body: str | None = None,
    labels: list[str] | None = None,
) -> Issue:
    """Several changes at once (the API's PATCH): all checked first, then written in one transaction, so a
    bad part leaves the issue as it was."""
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    if state is not None or title is not None or body is not None:
        require_author_or_owner(repo, issue, actor_id)
    if labels is not None:
        _require_owner(repo, actor_id)
    new_title = issue.title if title is None else title.strip()
    new_body = issue.body if body is None else body
    errors = _check_title(new_title) + _check_body(new_body)
    if state is not None and state not in STATUSES:
        errors.append({"field": "state", "message": "Use open or closed."})
    names = _check_label_names(labels) if labels is not None else None
    if errors:
        raise ValidationFailed("The issue was not saved.", errors=errors)

    async def write(tx: Tx) -> None:
        if title is not None or body is not None:
            await queries.update_issue_text(tx.conn, issue.id, new_title, new_body)
        if state is not None:
            await queries.set_issue_status(tx.conn, issue.id, state)
        if names is not None:
            await _assign(tx, repo, issue.id, names)

    await run_tx(services.pool, "git.change_issue", write, metrics=services.metrics)
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    return issue


async def list_labels(services: Services, repo: Repo) -> list[Label]:
    return [Label.from_row(r) for r in await queries.list_labels(services.pool, repo.id)]


def _require_owner(repo: Repo, actor_id: uuid.UUID) -> None:
    if not can_write(repo, actor_id):
        raise Forbidden("Only the repository's owner manages its labels.")


async def create_label(
    services: Services, repo: Repo, actor_id: uuid.UUID, *, name: str, color: str, description: str = ""
) -> Label:
    _require_owner(repo, actor_id)
    name = name.strip()
    color = color.strip().lower() or "#6b7280"
    errors = []
    if not name or len(name) > MAX_LABEL_CHARS or _has_control(name) or "," in name:
        errors.append({"field": "name", "message": f"Use 1 to {MAX_LABEL_CHARS} characters, no commas."})
    if not COLOR.match(color):
        errors.append({"field": "color", "message": "Use a color such as #1f883d."})
    if len(description) > MAX_TITLE_CHARS or _has_control(description):
        errors.append({"field": "description", "message": f"Use at most {MAX_TITLE_CHARS} characters."})
    if errors:
        raise ValidationFailed("The label was not created.", errors=errors)

    async def insert(tx: Tx) -> uuid.UUID | None:
        return await queries.insert_label(tx.conn, repo.id, name, color, description.strip() or None)

    label_id = await run_tx(services.pool, "git.create_label", insert, metrics=services.metrics)
    if label_id is None:
        raise Conflict(f"This repository already has a label named {name}.", slug="label-exists")
    return Label(label_id, name, color, description.strip() or None)


async def delete_label(services: Services, repo: Repo, actor_id: uuid.UUID, label_id: uuid.UUID) -> None:
    _require_owner(repo, actor_id)
    if not await queries.delete_label(services.pool, repo.id, label_id):
        raise NotFound("There is no such label in this repository.")


async def set_labels(services: Services, repo: Repo, number: int, actor_id: uuid.UUID, names: list[str]) -> Issue:
    _require_owner(repo, actor_id)
    cleaned = _check_label_names(names)
    issue, _ = await get_issue(services, repo, number, with_comments=False)

    async def assign(tx: Tx) -> None:
        await _assign(tx, repo, issue.id, cleaned)

    await run_tx(services.pool, "git.set_labels", assign, metrics=services.metrics)
    issue, _ = await get_issue(services, repo, number, with_comments=False)
    return issue


async def send_issue_mail(services: Services, job: Job) -> None:
    """The `ISSUE_MAIL` job: tells the repo's owner about a new issue, if they still want such mail."""
    row = await queries.get_issue_mail(services.pool, uuid.UUID(job.payload["issue_id"]))
    if row is None or not row["notify_issues"] or row["by_owner"]:
        return
    url = f"{services.config.base_url}/source/{row['owner']}/{row['repo']}/issues/{row['number']}"
    text = (
        f"Hello @{row['owner']},\n\n"
        f"@{row['author']} opened issue #{row['number']} in {row['owner']}/{row['repo']}:\n\n"
        f"{row['title']}\n\n{row['body'][:4000]}\n\n"
        f"See it at {url}\n\n"
        "You get this mail because issue notifications are on in your settings "
        f"({services.config.base_url}/settings).\n"
    )
    subject = f"[{row['owner']}/{row['repo']}] {row['title']} (#{row['number']})"
    mail = Mail(to=row["email"], subject=subject[:200], text=text)
    await notify(services, services.pool, row["owner_id"], "issues", mail, key=f"issue:{job.payload['issue_id']}")
