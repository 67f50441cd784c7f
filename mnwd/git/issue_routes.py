"""The issue tracker's JSON API under ``/api/v1/repos/{owner}/{name}``: issues, comments, labels.

Authentication is `mnwd.oauth.require_api_user`: a personal access token holding ``issues:read`` (reading) or
``issues:write`` (writing), or the signed-in browser session with its CSRF header. A private repo answers 404
to anyone but its owner, as if it did not exist; rules of who may change what are `mnwd.git.issues`'.

- ``GET  /issues?state=open|closed|all&label=NAME&page=N`` → ``{issues, page, has_more}``
- ``POST /issues`` ``{title, body?, labels?}`` → 201 the issue
- ``GET  /issues/{number}`` → the issue with ``comments``
- ``PATCH /issues/{number}`` ``{state?, title?, body?, labels?}`` → the issue
- ``POST /issues/{number}/comments`` ``{body}`` → 201 the comment
- ``GET  /labels`` → ``{labels}``; ``POST /labels`` ``{name, color?, description?}`` → 201 the label (owner)
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mnwd.git import issues, source
from mnwd.git.repos import Repo
from mnwd.oauth import ApiUser, require_api_user
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES

__all__ = ["setup"]

READ = "issues:read"
WRITE = "issues:write"
MAX_BODY_BYTES = 256 * 1024


class NewIssue(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    body: str = ""
    labels: list[str] = []


class IssueChange(msgspec.Struct, forbid_unknown_fields=True):
    state: str | None = None
    title: str | None = None
    body: str | None = None
    labels: list[str] | None = None


class NewComment(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class NewLabel(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    color: str = "#6b7280"
    description: str = ""


async def _repo(request: web.Request, scope: str) -> tuple[Repo, ApiUser]:
    caller = await require_api_user(request, scope=scope)
    repo = await source.readable_repo(
        request.app[SERVICES], request.match_info["owner"], request.match_info["name"], caller.user_id
    )
    return repo, caller


def _label(label: issues.Label) -> dict[str, Any]:
    return {"id": str(label.id), "name": label.name, "color": label.color, "description": label.description}


def _issue(repo: Repo, issue: issues.Issue) -> dict[str, Any]:
    return {
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": issue.status,
        "author": issue.author,
        "labels": [_label(label) for label in issue.labels],
        "comment_count": issue.comment_count,
        "created_at": rfc3339(issue.created_at),
        "updated_at": rfc3339(issue.updated_at),
        "closed_at": rfc3339(issue.closed_at) if issue.closed_at else None,
        "html_url": f"/source/{repo.owner}/{repo.name}/issues/{issue.number}",
    }


def _comment(comment: issues.Comment) -> dict[str, Any]:
    return {
        "id": str(comment.id),
        "author": comment.author,
        "body": comment.body,
        "created_at": rfc3339(comment.created_at),
    }


def _number(request: web.Request) -> int:
    return int(request.match_info["number"])


@csrf_exempt
async def list_issues(request: web.Request) -> web.Response:
    repo, _ = await _repo(request, READ)
    state = request.query.get("state", "open")
    try:
        page_number = int(request.query.get("page", "1"))
    except ValueError:
        page_number = 1
    page = await issues.list_issues(
        request.app[SERVICES],
        repo,
        status=None if state == "all" else state,
        label=request.query.get("label"),
        page=page_number,
    )
    return json_response(
        {"issues": [_issue(repo, i) for i in page.issues], "page": page.page, "has_more": page.has_more}
    )


@csrf_exempt
async def open_issue(request: web.Request) -> web.Response:
    repo, caller = await _repo(request, WRITE)
    body = await read_json(request, NewIssue, max_bytes=MAX_BODY_BYTES)
    issue = await issues.open_issue(
        request.app[SERVICES], repo, caller.user_id, title=body.title, body=body.body, labels=body.labels
    )
    location = f"/api/v1/repos/{repo.owner}/{repo.name}/issues/{issue.number}"
    return json_response(_issue(repo, issue), status=201, headers={"Location": location})


@csrf_exempt
async def get_issue(request: web.Request) -> web.Response:
    repo, _ = await _repo(request, READ)
    issue, comments = await issues.get_issue(request.app[SERVICES], repo, _number(request))
    return json_response({**_issue(repo, issue), "comments": [_comment(c) for c in comments]})


@csrf_exempt
async def change_issue(request: web.Request) -> web.Response:
    repo, caller = await _repo(request, WRITE)
    change = await read_json(request, IssueChange, max_bytes=MAX_BODY_BYTES)
    issue = await issues.change_issue(
        request.app[SERVICES],
        repo,
        _number(request),
        caller.user_id,
        state=change.state,
        title=change.title,
        body=change.body,
        labels=change.labels,
    )
    return json_response(_issue(repo, issue))


@csrf_exempt
async def add_comment(request: web.Request) -> web.Response:
    repo, caller = await _repo(request, WRITE)
    body = await read_json(request, NewComment, max_bytes=MAX_BODY_BYTES)
    comment = await issues.add_comment(request.app[SERVICES], repo, _number(request), caller.user_id, body.body)
    return json_response(_comment(comment), status=201)


@csrf_exempt
async def list_labels(request: web.Request) -> web.Response:
    repo, _ = await _repo(request, READ)
    labels = await issues.list_labels(request.app[SERVICES], repo)
    return json_response({"labels": [_label(label) for label in labels]})


@csrf_exempt
async def create_label(request: web.Request) -> web.Response:
    repo, caller = await _repo(request, WRITE)
    body = await read_json(request, NewLabel, max_bytes=MAX_BODY_BYTES)
    label = await issues.create_label(
        request.app[SERVICES], repo, caller.user_id, name=body.name, color=body.color, description=body.description
    )
    return json_response(_label(label), status=201)


def setup(app: web.Application) -> None:
    base = "/api/v1/repos/{owner}/{name}"
    app.router.add_get(base + "/issues", list_issues)
    app.router.add_post(base + "/issues", open_issue)
    app.router.add_get(base + r"/issues/{number:\d{1,9}}", get_issue)
    app.router.add_patch(base + r"/issues/{number:\d{1,9}}", change_issue)
    app.router.add_post(base + r"/issues/{number:\d{1,9}}/comments", add_comment)
    app.router.add_get(base + "/labels", list_labels)
    app.router.add_post(base + "/labels", create_label)
