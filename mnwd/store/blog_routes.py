"""Blog posts: the creator's ``/dashboard/blog`` (list, new, edit, delete) and the public
``/blog/{username}/{project}`` (the project's posts) and ``/blog/{username}/{project}/{post_slug}`` (a post,
with Open Graph tags and an ETag). A draft answers 404 to everyone but the project's owner."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.store import blog
from mnwd.store.conditional import PRIVATE, PUBLIC, conditional
from mnwd.web.forms import checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SAVED = {
    "created": "The post was created.",
    "saved": "The post was saved.",
    "deleted": "The post was deleted.",
}
NOT_A_CREATOR = "Only creators have a blog. Ask an administrator to let your account create projects."


async def _creator(request: web.Request) -> uuid.UUID:
    viewer = await require_viewer(request)
    if not viewer.can_create_projects:
        raise Forbidden(NOT_A_CREATOR)
    return viewer.user_id


def _input(form: Any) -> blog.PostInput:
    return blog.PostInput(
        title=field(form, "title"),
        slug=field(form, "slug"),
        body=field(form, "body", max_chars=blog.MAX_BODY_CHARS),
        publish=checkbox(form, "publish"),
    )


async def dashboard(request: web.Request) -> web.Response:
    owner = await _creator(request)
    pool = request.app[SERVICES].pool
    context = {
        "posts": await blog.list_owner_posts(pool, owner),
        "projects": await blog.list_owned_projects(pool, owner),
        "saved": SAVED.get(request.query.get("saved", "")),
    }
    return await render(request, "store/blog_dashboard.html", context)


async def _form_context(request: web.Request, owner: uuid.UUID, form: dict[str, Any]) -> dict[str, Any]:
    return {"projects": await blog.list_owned_projects(request.app[SERVICES].pool, owner), "form": form}


async def new_post_page(request: web.Request) -> web.Response:
    owner = await _creator(request)
    form = {"project_id": request.query.get("project", ""), "publish": False}
    return await render(request, "store/blog_form.html", {**await _form_context(request, owner, form), "post": None})


async def create_post(request: web.Request) -> web.Response:
    owner = await _creator(request)
    form = await read_form(request)
    data = _input(form)
    values = {"project_id": field(form, "project_id"), **data.__dict__}
    try:
        project_id = uuid.UUID(values["project_id"])
    except ValueError:
        raise NotFound(blog.NO_SUCH_PROJECT) from None
    try:
        post_id = await blog.create_post(request.app[SERVICES].pool, owner, project_id, data)
    except (ValidationFailed, Conflict) as problem:
        context = {**await _form_context(request, owner, values), "post": None}
        return await render_problem(request, "store/blog_form.html", problem, context)
    return redirect(f"/dashboard/blog/{post_id}?saved=created")


async def _owned(request: web.Request, owner: uuid.UUID) -> blog.Post:
    post_id = uuid_param(request, "post_id", blog.NO_SUCH_POST)
    return await blog.get_owned_post(request.app[SERVICES].pool, owner, post_id)


async def edit_post_page(request: web.Request) -> web.Response:
    owner = await _creator(request)
    post = await _owned(request, owner)
    form = {
        "title": post.title,
        "slug": post.slug,
        "body": post.body_markdown,
        "publish": post.published_at is not None,
    }
    context = {
        **await _form_context(request, owner, form),
        "post": post,
        "saved": SAVED.get(request.query.get("saved", "")),
    }
    return await render(request, "store/blog_form.html", context)


async def save_post(request: web.Request) -> web.Response:
    owner = await _creator(request)
    post = await _owned(request, owner)
    form = await read_form(request)
    data = _input(form)
    try:
        await blog.update_post(request.app[SERVICES].pool, owner, post.id, data)
    except (ValidationFailed, Conflict) as problem:
        context = {**await _form_context(request, owner, dict(data.__dict__)), "post": post}
        return await render_problem(request, "store/blog_form.html", problem, context)
    return redirect(f"/dashboard/blog/{post.id}?saved=saved")


async def confirm_delete(request: web.Request) -> web.Response:
    post = await _owned(request, await _creator(request))
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a post",
            question=f"Delete the post {post.title}?",
            consequence="It is gone from the project's blog and from followers' feeds; links to it will not work.",
            button="Delete the post",
            cancel=f"/dashboard/blog/{post.id}",
        ),
    )


async def delete_post(request: web.Request) -> web.Response:
    owner = await _creator(request)
    post = await _owned(request, owner)
    await blog.delete_post(request.app[SERVICES].pool, owner, post.id)
    return redirect("/dashboard/blog?saved=deleted")


async def project_blog_page(request: web.Request) -> web.Response:
    viewer = await get_viewer(request)
    found = await blog.list_visible_posts(
        request.app[SERVICES].pool,
        request.match_info["username"],
        request.match_info["project"],
        viewer.user_id if viewer else None,
    )
    if found is None:
        raise NotFound("There is no such project.")
    project, posts = found
    is_owner = viewer is not None and viewer.user_id == project.owner_id
    response = await render(request, "store/blog_list.html", {"project": project, "posts": posts, "is_owner": is_owner})
    return conditional(request, response, PRIVATE if is_owner or not project.is_public else PUBLIC)


async def post_page(request: web.Request) -> web.Response:
    viewer = await get_viewer(request)
    post = await blog.get_visible_post(
        request.app[SERVICES].pool,
        request.match_info["username"],
        request.match_info["project"],
        request.match_info["post_slug"],
        viewer.user_id if viewer else None,
    )
    if post is None:
        raise NotFound("There is no such post.")
    base_url = request.app[SERVICES].config.base_url.rstrip("/")
    is_owner = viewer is not None and viewer.user_id == post.owner_id
    response = await render(
        request, "store/blog_post.html", {"post": post, "canonical": base_url + post.url, "is_owner": is_owner}
    )
    return conditional(request, response, PUBLIC if post.is_public else PRIVATE)


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/blog", dashboard)
    app.router.add_post("/dashboard/blog", create_post)
    app.router.add_get("/dashboard/blog/new", new_post_page)
    app.router.add_get("/dashboard/blog/{post_id}", edit_post_page)
    app.router.add_post("/dashboard/blog/{post_id}", save_post)
    app.router.add_get("/dashboard/blog/{post_id}/delete", confirm_delete)
    app.router.add_post("/dashboard/blog/{post_id}/delete", delete_post)
    app.router.add_get("/blog/{username}/{project}", project_blog_page)
    app.router.add_get("/blog/{username}/{project}/{post_slug}", post_page)
