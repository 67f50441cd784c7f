"""Pages of a repository's issue tracker: list and filter, open, view with comments, close and reopen,
edit the title and body (the author or the owner; anyone else who can read the repo gets 403), labels
(the owner's). Reading needs read access to the repo; writing needs a signed-in user too."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mnwd.accounts import Viewer, get_viewer, require_viewer
from mnwd.errors import Conflict, NotFound, Problem, ValidationFailed
from mnwd.git import issues, source
from mnwd.git.pages_source import repo_context
from mnwd.git.repos import Repo
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.markdown import render_markdown
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SAVED = {
    "label-created": "The label was created.",
    "label-deleted": "The label was deleted.",
    "closed": "The issue was closed.",
    "reopened": "The issue was reopened.",
    "labels": "The labels were saved.",
    "edited": "The issue was saved.",
}


async def _repo(request: web.Request, *, signed_in: bool = False) -> tuple[Repo, Viewer | None]:
    viewer = await (require_viewer(request) if signed_in else get_viewer(request))
    repo = await source.readable_repo(
        request.app[SERVICES],
        request.match_info["owner"],
        request.match_info["name"],
        viewer.user_id if viewer else None,
    )
    return repo, viewer


def _number(request: web.Request) -> int:
    return int(request.match_info["number"])


def _int_query(request: web.Request, name: str, default: int = 1) -> int:
    try:
        return int(request.query.get(name, str(default)))
    except ValueError:
        return default


async def _context(request: web.Request, repo: Repo, viewer: Viewer | None, **extra: Any) -> dict[str, Any]:
    context = await repo_context(request, repo, viewer, "issues")
    return {**context, "markdown": render_markdown, "saved": SAVED.get(request.query.get("saved", "")), **extra}


async def issue_list(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    state = request.query.get("state", "open")
    status = None if state == "all" else state
    page = await issues.list_issues(
        request.app[SERVICES], repo, status=status, label=request.query.get("label"), page=_int_query(request, "page")
    )
    labels = await issues.list_labels(request.app[SERVICES], repo)
    return await render(
        request, "git/issues.html", await _context(request, repo, viewer, page=page, labels=labels, state=state)
    )


async def new_issue_page(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    labels = await issues.list_labels(request.app[SERVICES], repo)
    context = await _context(request, repo, viewer, labels=labels, form={"title": "", "body": ""}, chosen=[])
    return await render(request, "git/issue_new.html", context)


async def open_issue(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    title = field(form, "title", max_chars=issues.MAX_TITLE_CHARS)
    body = field(form, "body", max_chars=issues.MAX_BODY_CHARS)
    chosen = [v for v in form.getall("label", []) if isinstance(v, str)]
    try:
        issue = await issues.open_issue(
            request.app[SERVICES], repo, viewer.user_id, title=title, body=body, labels=chosen
        )
    except ValidationFailed as problem:
        labels = await issues.list_labels(request.app[SERVICES], repo)
        context = await _context(
            request, repo, viewer, labels=labels, form={"title": title, "body": body}, chosen=chosen
        )
        return await render_problem(request, "git/issue_new.html", problem, context)
    return redirect(f"/source/{repo.owner}/{repo.name}/issues/{issue.number}")


async def _issue_page(
    request: web.Request, repo: Repo, viewer: Viewer | None, problem: Problem | None = None, comment: str = ""
) -> web.Response:
    services = request.app[SERVICES]
    issue, comments = await issues.get_issue(services, repo, _number(request))
    labels = await issues.list_labels(services, repo)
    may_change = viewer is not None and viewer.user_id in (repo.user_id, issue.author_user_id)
    context = await _context(
        request, repo, viewer, issue=issue, comments=comments, labels=labels, may_change=may_change, comment=comment
    )
    if problem is not None:
        return await render_problem(request, "git/issue.html", problem, context)
    return await render(request, "git/issue.html", context)


async def issue_page(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    return await _issue_page(request, repo, viewer)


async def add_comment(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    body = field(form, "body", max_chars=issues.MAX_BODY_CHARS)
    try:
        comment = await issues.add_comment(request.app[SERVICES], repo, _number(request), viewer.user_id, body)
    except ValidationFailed as problem:
        return await _issue_page(request, repo, viewer, problem, comment=body)
    return redirect(f"/source/{repo.owner}/{repo.name}/issues/{_number(request)}#comment-{comment.id}")


async def change_status(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    state = field(form, "state", max_chars=16)
    await issues.set_status(request.app[SERVICES], repo, _number(request), viewer.user_id, state)
    saved = "closed" if state == "closed" else "reopened"
    return redirect(f"/source/{repo.owner}/{repo.name}/issues/{_number(request)}?saved={saved}")


async def _edit_page(
    request: web.Request, repo: Repo, viewer: Viewer, problem: Problem | None = None, **form: str
) -> web.Response:
    issue, _ = await issues.get_issue(request.app[SERVICES], repo, _number(request), with_comments=False)
    issues.require_author_or_owner(repo, issue, viewer.user_id)
    context = await _context(
        request, repo, viewer, issue=issue, form={"title": issue.title, "body": issue.body, **form}
    )
    if problem is not None:
        return await render_problem(request, "git/issue_edit.html", problem, context)
    return await render(request, "git/issue_edit.html", context)


async def edit_issue_page(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    return await _edit_page(request, repo, viewer)


async def edit_issue(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    title = field(form, "title", max_chars=issues.MAX_TITLE_CHARS)
    body = field(form, "body", max_chars=issues.MAX_BODY_CHARS)
    try:
        await issues.change_issue(request.app[SERVICES], repo, _number(request), viewer.user_id, title=title, body=body)
    except ValidationFailed as problem:
        return await _edit_page(request, repo, viewer, problem, title=title, body=body)
    return redirect(f"/source/{repo.owner}/{repo.name}/issues/{_number(request)}?saved=edited")


async def change_labels(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    names = [v for v in form.getall("label", []) if isinstance(v, str)]
    await issues.set_labels(request.app[SERVICES], repo, _number(request), viewer.user_id, names)
    return redirect(f"/source/{repo.owner}/{repo.name}/issues/{_number(request)}?saved=labels")


async def labels_page(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    labels = await issues.list_labels(request.app[SERVICES], repo)
    context = await _context(
        request, repo, viewer, labels=labels, form={"name": "", "color": "#6b7280", "description": ""}
    )
    return await render(request, "git/labels.html", context)


async def create_label(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    form = await read_form(request)
    values = {
        "name": field(form, "name", max_chars=issues.MAX_LABEL_CHARS),
        "color": field(form, "color", max_chars=16),
        "description": field(form, "description", max_chars=issues.MAX_TITLE_CHARS),
    }
    try:
        await issues.create_label(request.app[SERVICES], repo, viewer.user_id, **values)
    except (ValidationFailed, Conflict) as problem:
        labels = await issues.list_labels(request.app[SERVICES], repo)
        context = await _context(request, repo, viewer, labels=labels, form=values)
        return await render_problem(request, "git/labels.html", problem, context)
    return redirect(f"/source/{repo.owner}/{repo.name}/labels?saved=label-created")


async def confirm_delete_label(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    label_id = uuid_param(request, "label_id", "There is no such label in this repository.")
    label = next((lb for lb in await issues.list_labels(request.app[SERVICES], repo) if lb.id == label_id), None)
    if label is None or viewer.user_id != repo.user_id:
        raise NotFound("There is no such label in this repository.")
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a label",
            question=f"Delete the label “{label.name}”?",
            consequence="It is taken off every issue that has it. The issues stay.",
            button="Delete the label",
            cancel=f"/source/{repo.owner}/{repo.name}/labels",
        ),
    )


async def delete_label(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request, signed_in=True)
    assert viewer is not None
    label_id = uuid_param(request, "label_id", "There is no such label in this repository.")
    await issues.delete_label(request.app[SERVICES], repo, viewer.user_id, label_id)
    return redirect(f"/source/{repo.owner}/{repo.name}/labels?saved=label-deleted")


async def labels_css(request: web.Request) -> web.Response:
    """The label colors of one repo as classes: the pages' CSP allows no inline style."""
    repo, _ = await _repo(request)
    labels = await issues.list_labels(request.app[SERVICES], repo)
    text = "".join(f".label-{lb.id.hex} {{ background: {lb.color}; }}\n" for lb in labels)
    return web.Response(text=text, content_type="text/css", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    base = "/source/{owner}/{name}"
    app.router.add_get(base + "/issues", issue_list)
    app.router.add_post(base + "/issues", open_issue)
    app.router.add_get(base + "/issues/new", new_issue_page)
    app.router.add_get(base + r"/issues/{number:\d{1,9}}", issue_page)
    app.router.add_post(base + r"/issues/{number:\d{1,9}}/comments", add_comment)
    app.router.add_post(base + r"/issues/{number:\d{1,9}}/status", change_status)
    app.router.add_post(base + r"/issues/{number:\d{1,9}}/labels", change_labels)
    app.router.add_get(base + r"/issues/{number:\d{1,9}}/edit", edit_issue_page)
    app.router.add_post(base + r"/issues/{number:\d{1,9}}/edit", edit_issue)
    app.router.add_get(base + "/labels", labels_page)
    app.router.add_post(base + "/labels", create_label)
    app.router.add_get(base + "/labels.css", labels_css)
    app.router.add_get(base + "/labels/{label_id}/delete", confirm_delete_label)
    app.router.add_post(base + "/labels/{label_id}/delete", delete_label)
