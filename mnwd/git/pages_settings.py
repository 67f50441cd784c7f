"""The owner's settings page of a repository: description, visibility, default branch, rename, delete.
Anyone else gets 404 here, as for a private repository. Also the "New repository" form (``/source/new``,
signed in), whose routes `setup_new` adds before ``/source/{owner}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mnwd.accounts import Viewer, require_recent_auth, require_viewer
from mnwd.errors import Problem
from mnwd.git import repo_settings, source
from mnwd.git.pages_source import repo_context
from mnwd.git.repos import Repo
from mnwd.web.forms import checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation

__all__ = ["setup", "setup_new"]

SAVED = {"saved": "The settings were saved.", "renamed": "The repository was renamed."}


async def _owned(request: web.Request, viewer: Viewer) -> Repo:
    repo = await source.readable_repo(
        request.app[SERVICES], request.match_info["owner"], request.match_info["name"], viewer.user_id
    )
    return repo_settings.owned_repo(repo, viewer.user_id)


async def _page(
    request: web.Request, repo: Repo, viewer: Viewer, problem: Problem | None = None, **form: Any
) -> web.Response:
    refs = await source.refs_view(request.app[SERVICES], repo)
    context = {
        **(await repo_context(request, repo, viewer, "settings")),
        "branches": [name for name, _ in refs.branches],
        "form": {
            "description": repo.description,
            "is_private": repo.is_private,
            "default_branch": repo.default_branch,
            "name": repo.name,
            **form,
        },
        "saved": SAVED.get(request.query.get("saved", "")),
    }
    if problem is not None:
        return await render_problem(request, "git/settings.html", problem, context)
    return await render(request, "git/settings.html", context)


async def settings_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    return await _page(request, await _owned(request, viewer), viewer)


async def save_settings(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    repo = await _owned(request, viewer)
    form = await read_form(request)
    description = field(form, "description", max_chars=repo_settings.MAX_DESCRIPTION_CHARS)
    is_private = checkbox(form, "is_private")
    default_branch = field(form, "default_branch", max_chars=200)
    try:
        await repo_settings.save_settings(
            request.app[SERVICES],
            repo,
            description=description,
            is_private=is_private,
            default_branch=default_branch,
        )
    except Problem as problem:
        return await _page(
            request,
            repo,
            viewer,
            problem,
            description=description,
            is_private=is_private,
            default_branch=default_branch,
        )
    return redirect(f"/source/{repo.owner}/{repo.name}/settings?saved=saved")


async def rename(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    repo = await _owned(request, viewer)
    form = await read_form(request)
    name = field(form, "name", max_chars=200)
    try:
        renamed = await repo_settings.rename_repo(request.app[SERVICES], repo, name)
    except Problem as problem:
        return await _page(request, repo, viewer, problem, name=name)
    return redirect(f"/source/{renamed.owner}/{renamed.name}/settings?saved=renamed")


async def confirm_delete(request: web.Request) -> web.Response:
    viewer = await require_recent_auth(request)
    repo = await _owned(request, viewer)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a repository",
            question=f"Delete {repo.owner}/{repo.name}?",
            consequence=(
                "Its code, branches, tags, issues and comments are deleted at once and for good; clones people "
                "made stay theirs. The name becomes free again."
            ),
            button="Delete the repository",
            cancel=f"/source/{repo.owner}/{repo.name}/settings",
        ),
    )


async def delete(request: web.Request) -> web.Response:
    viewer = await require_recent_auth(request, back=request.path)
    repo = await _owned(request, viewer)
    await repo_settings.delete_repo(request.app[SERVICES], repo)
    return redirect(f"/source/{repo.owner}")


async def _new_page(request: web.Request, problem: Problem | None = None, **form: Any) -> web.Response:
    context = {"form": {"name": "", "description": "", "is_private": False, **form}}
    if problem is not None:
        return await render_problem(request, "git/new_repo.html", problem, context)
    return await render(request, "git/new_repo.html", context)


async def new_repo_page(request: web.Request) -> web.Response:
    await require_viewer(request)
    return await _new_page(request)


async def create_repo(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    name = field(form, "name", max_chars=200)
    description = field(form, "description", max_chars=repo_settings.MAX_DESCRIPTION_CHARS)
    is_private = form.get("visibility") == "private"
    try:
        repo = await repo_settings.create_repo(
            request.app[SERVICES],
            viewer.user_id,
            viewer.username,
            name,
            description=description,
            is_private=is_private,
        )
    except Problem as problem:
        return await _new_page(request, problem, name=name, description=description, is_private=is_private)
    return redirect(f"/source/{repo.owner}/{repo.name}")


def setup_new(app: web.Application) -> None:
    app.router.add_get("/source/new", new_repo_page)
    app.router.add_post("/source/new", create_repo)


def setup(app: web.Application) -> None:
    base = "/source/{owner}/{name}/settings"
    app.router.add_get(base, settings_page)
    app.router.add_post(base, save_settings)
    app.router.add_post(base + "/rename", rename)
    app.router.add_get(base + "/delete", confirm_delete)
    app.router.add_post(base + "/delete", delete)
