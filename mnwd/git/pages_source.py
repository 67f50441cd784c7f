"""Pages of the /source/ browser: repo lists, a repo's tree, files (highlighted, raw), history, one commit,
branches and tags. Reading only; the views come from `mnwd.git.source`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from aiohttp import web

from mnwd.accounts import Viewer, get_viewer
from mnwd.errors import NotFound
from mnwd.git import listing, source
from mnwd.git.highlight import stylesheet
from mnwd.git.repos import Repo
from mnwd.web.keys import SERVICES
from mnwd.web.pages import render

__all__ = ["repo_context", "setup"]


async def repo_context(request: web.Request, repo: Repo, viewer: Viewer | None, tab: str) -> dict[str, Any]:
    """What every page of one repository shows in its header."""
    return {
        "repo": repo,
        "tab": tab,
        "is_owner": viewer is not None and viewer.user_id == repo.user_id,
        "clone": listing.clone_urls(request.app[SERVICES].config, repo),
        "base": f"/source/{repo.owner}/{repo.name}",
        "url_path": listing.url_path,
    }


async def _repo(request: web.Request) -> tuple[Repo, Viewer | None]:
    viewer = await get_viewer(request)
    repo = await source.readable_repo(
        request.app[SERVICES],
        request.match_info["owner"],
        request.match_info["name"],
        viewer.user_id if viewer else None,
    )
    return repo, viewer


async def source_home(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    viewer = await get_viewer(request)
    mine = await listing.list_owner_repos(services, viewer.username, viewer.user_id) if viewer else None
    recent = await listing.list_recent_repos(services)
    ssh_base = listing.ssh_base(services.config)
    return await render(request, "git/home.html", {"mine": mine, "recent": recent, "ssh_base": ssh_base})


async def owner_repos(request: web.Request) -> web.Response:
    viewer = await get_viewer(request)
    found = await listing.list_owner_repos(
        request.app[SERVICES], request.match_info["owner"], viewer.user_id if viewer else None
    )
    if found is None:
        raise NotFound("There is no such user.")
    is_owner = viewer is not None and viewer.username == found.owner
    return await render(request, "git/owner.html", {"listing": found, "is_owner": is_owner})


async def repo_home(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name.endswith(".git") and len(name) > 4:
        raise web.HTTPMovedPermanently(f"/source/{request.match_info['owner']}/{name[:-4]}")
    repo, viewer = await _repo(request)
    overview = await source.repo_overview(request.app[SERVICES], repo)
    context = await repo_context(request, repo, viewer, "code")
    return await render(
        request, "git/repo.html", {**context, "overview": overview, "tree": overview.tree, "refs": overview.refs}
    )


async def tree(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    view, refs = await source.tree_view(request.app[SERVICES], repo, request.match_info["rest"])
    context = await repo_context(request, repo, viewer, "code")
    return await render(request, "git/tree.html", {**context, "tree": view, "refs": refs})


async def blob(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    view, refs = await source.file_view(request.app[SERVICES], repo, request.match_info["rest"])
    context = await repo_context(request, repo, viewer, "code")
    return await render(request, "git/file.html", {**context, "file": view, "refs": refs})


async def raw(request: web.Request) -> web.StreamResponse:
    repo, _ = await _repo(request)
    found, chunks = await source.raw_blob(request.app[SERVICES], repo, request.match_info["rest"])
    response = web.StreamResponse(
        headers={
            "Content-Type": found.content_type,
            "Content-Length": str(found.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            "Content-Disposition": "inline" if not found.content_type.startswith("application/") else "attachment",
            "Cache-Control": "private, max-age=60" if repo.is_private else "public, max-age=60",
        }
    )
    async with contextlib.aclosing(chunks):
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def blame(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    view = await source.blame_view(request.app[SERVICES], repo, request.match_info["rest"])
    context = await repo_context(request, repo, viewer, "code")
    return await render(request, "git/blame.html", {**context, "blame": view})


def _page_number(request: web.Request) -> int:
    try:
        return int(request.query.get("page", "1"))
    except ValueError:
        return 1


async def commits(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    view, refs = await source.log_view(
        request.app[SERVICES], repo, request.match_info["rest"], page=_page_number(request)
    )
    context = await repo_context(request, repo, viewer, "commits")
    return await render(request, "git/log.html", {**context, "log": view, "refs": refs})


async def commits_default(request: web.Request) -> web.Response:
    repo, _ = await _repo(request)
    raise web.HTTPSeeOther(f"/source/{repo.owner}/{repo.name}/commits/{listing.url_path(repo.default_branch)}")


async def commit(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    view = await source.commit_view(request.app[SERVICES], repo, request.match_info["sha"])
    context = await repo_context(request, repo, viewer, "commits")
    return await render(request, "git/commit.html", {**context, "view": view})


async def refs(request: web.Request) -> web.Response:
    repo, viewer = await _repo(request)
    found = await source.refs_view(request.app[SERVICES], repo)
    context = await repo_context(request, repo, viewer, "refs")
    return await render(request, "git/refs.html", {**context, "refs": found})


STYLESHEET = Path(__file__).resolve().parent / "static" / "source.css"


async def source_css(request: web.Request) -> web.Response:
    return web.Response(
        text=STYLESHEET.read_text(), content_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


async def highlight_css(request: web.Request) -> web.Response:
    return web.Response(text=stylesheet(), content_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


def setup(app: web.Application) -> None:
    app.router.add_get("/source/source.css", source_css)
    app.router.add_get("/source/highlight.css", highlight_css)
    app.router.add_get("/source/", source_home)
    app.router.add_get("/source", source_home)
    app.router.add_get("/source/{owner}", owner_repos)
    app.router.add_get("/source/{owner}/{name}", repo_home)
    app.router.add_get("/source/{owner}/{name}/tree/{rest:.*}", tree)
    app.router.add_get("/source/{owner}/{name}/blob/{rest:.*}", blob)
    app.router.add_get("/source/{owner}/{name}/raw/{rest:.*}", raw)
    app.router.add_get("/source/{owner}/{name}/blame/{rest:.*}", blame)
    app.router.add_get("/source/{owner}/{name}/commits", commits_default)
    app.router.add_get("/source/{owner}/{name}/commits/{rest:.*}", commits)
    app.router.add_get("/source/{owner}/{name}/commit/{sha}", commit)
    app.router.add_get("/source/{owner}/{name}/refs", refs)
