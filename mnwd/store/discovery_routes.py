"""Home, search (page and /api/v1/search), tags, labels, sitemap.xml and robots.txt.

Public pages (``/``, ``/search``, ``/tags/{slug}``) and files (``/sitemap.xml``, ``/robots.txt``,
``/api/v1/search``) carry an ``ETag`` (a hash of the body) and ``Cache-Control``; a request whose
``If-None-Match`` names it gets ``304 Not Modified`` without the body. Pages are ``private, no-cache`` (the
header shows who is signed in), files ``public``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import Forbidden, NotFound, ValidationFailed
from mnwd.oauth import require_api_user
from mnwd.store import home_page, labels, search, tags
from mnwd.store.pages_catalog import changes_catalog
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.home import set_home_page
from mnwd.web.http import etag_matches, strong_etag
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SCOPE = "store:write"
PAGE_CACHE = "private, no-cache"
FILE_CACHE = "public, max-age=300"
API_CACHE = "public, max-age=0, must-revalidate"
ADMINS_ONLY = "Only administrators manage tags and labels."
NO_SUCH_TAG = "There is no such tag."
NO_SUCH_LABEL = "There is no such label."
SAVED_MESSAGES = {
    "created": "The tag was created.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "label-created": "The label was created.",
}


def _conditional(request: web.Request, response: web.Response, cache_control: str) -> web.Response:
    """``response`` with an ETag and Cache-Control, or a 304 when the client already holds this body."""
    body = response.body
    assert isinstance(body, bytes)
    etag = strong_etag(hashlib.sha256(body).hexdigest()[:32])
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if cache_control == PAGE_CACHE:
        headers["Vary"] = "Cookie"  # the header names who is signed in
    if response.status == 200 and etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


def _label_json(label: labels.Label) -> dict[str, Any]:
    return {"slug": label.slug, "name": label.display_name, "definition": label.definition}


def _item_json(card: search.ItemCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "url": card.url,
        "title": card.title,
        "slug": card.slug,
        "type": card.item_type,
        "description": card.description,
        "price_cents": card.price_cents,
        "currency": card.currency,
        "pwyw_enabled": card.pwyw_enabled,
        "creator": card.creator,
        "project": {"id": card.project_id, "slug": card.project_slug, "title": card.project_title},
        "published_at": card.published_at,
        "labels": [label.slug for label in card.labels],
    }


def _project_json(card: search.ProjectCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "url": card.url,
        "title": card.title,
        "slug": card.slug,
        "type": card.project_type,
        "description": card.description,
        "creator": card.creator,
        "labels": [label.slug for label in card.labels],
    }


def _pager(request: web.Request) -> dict[str, Any]:
    """What ``store/_pager.html`` needs besides the results: the query string without its page."""
    kept = [(k, v) for k, v in request.query.items() if k != "page"]
    return {"pager_query": urlencode(kept), "max_page": search.MAX_PAGE}


def _parse_query(query: Mapping[str, str], labels_given: list[str]) -> search.SearchQuery:
    return search.parse_search(
        q=query.get("q"),
        type=query.get("type"),
        tag=query.get("tag"),
        labels=labels_given,
        price=query.get("price"),
        page=query.get("page"),
    )


# Search


async def search_page(request: web.Request) -> web.StreamResponse:
    pool = request.app[SERVICES].pool
    form = {k: request.query.get(k, "")[:1000] for k in ("q", "type", "tag", "price")}
    form_labels = request.query.getall("label", [])
    context: dict[str, Any] = {
        "form": form,
        "form_labels": form_labels,
        "all_labels": await labels.list_labels(pool),
        "item_types": search.ITEM_TYPES,
        "project_types": search.PROJECT_TYPES,
        "results": None,
        "search_text": form["q"],
        **_pager(request),
    }
    try:
        query = _parse_query(request.query, form_labels)
        context["results"] = await search.search(pool, query)
    except ValidationFailed as problem:
        return await render_problem(request, "store/search.html", problem, context)
    return _conditional(request, await render(request, "store/search.html", context), PAGE_CACHE)


async def search_api(request: web.Request) -> web.StreamResponse:
    query = _parse_query(request.query, request.query.getall("label", []))
    if query.is_empty:
        raise ValidationFailed(
            search.FAILED, errors=[{"field": "q", "message": "Give something to search for, or a filter."}]
        )
    results = await search.search(request.app[SERVICES].pool, query)
    body = {
        "query": {
            "q": query.text,
            "type": query.type,
            "tag": query.tag,
            "labels": list(query.labels),
            "price": query.price,
            "page": query.page,
        },
        "items": [_item_json(card) for card in results.items],
        "projects": [_project_json(card) for card in results.projects],
        "has_more": results.has_more,
        "corrected": results.corrected,
    }
    return _conditional(request, json_response(body), API_CACHE)


# Tags


async def tag_page(request: web.Request) -> web.StreamResponse:
    pool = request.app[SERVICES].pool
    tag = await tags.get_tag_by_slug(pool, request.match_info["slug"])
    if tag is None:
        raise NotFound(NO_SUCH_TAG)
    query = search.parse_search(q=None, tag=tag.slug, page=request.query.get("page"))
    results = await search.search(pool, query)
    family = await tags.tag_family(pool, tag)
    response = await render(
        request, "store/tag.html", {"family": family, "tag": tag, "results": results, **_pager(request)}
    )
    return _conditional(request, response, PAGE_CACHE)


async def tags_api(request: web.Request) -> web.StreamResponse:
    listed = await tags.list_tags(request.app[SERVICES].pool)
    body = {
        "tags": [
            {"slug": t.slug, "name": t.name, "path": t.path, "description": t.description, "url": t.url} for t in listed
        ]
    }
    return _conditional(request, json_response(body), API_CACHE)


class ItemTagsBody(msgspec.Struct, forbid_unknown_fields=True):
    tags: list[str]
    primary: str | None = None


@csrf_exempt
async def put_item_tags(request: web.Request) -> web.StreamResponse:
    caller = await require_api_user(request, scope=SCOPE)
    item_id = uuid_param(request, "item_id", tags.NO_SUCH_ITEM)
    body = await read_json(request, ItemTagsBody, max_bytes=64 * 1024)
    slugs, primary = tags.check_item_tags(body.tags, body.primary)
    saved = await tags.set_item_tags(request.app[SERVICES].pool, caller.user_id, item_id, slugs, primary)
    return json_response(
        {
            "item_id": item_id,
            "tags": [{"slug": t.slug, "name": t.name, "path": t.path, "primary": t.primary} for t in saved],
            "primary": next((t.slug for t in saved if t.primary), None),
        }
    )


# Labels


async def labels_api(request: web.Request) -> web.StreamResponse:
    listed = await labels.list_labels(request.app[SERVICES].pool)
    body = {
        "labels": [
            {**_label_json(label), "examples": label.examples, "nonexamples": label.nonexamples} for label in listed
        ]
    }
    return _conditional(request, json_response(body), API_CACHE)


class ProjectLabelsBody(msgspec.Struct, forbid_unknown_fields=True):
    labels: list[str]


@csrf_exempt
async def put_project_labels(request: web.Request) -> web.StreamResponse:
    caller = await require_api_user(request, scope=SCOPE)
    project_id = uuid_param(request, "project_id", labels.NO_SUCH_PROJECT)
    body = await read_json(request, ProjectLabelsBody, max_bytes=64 * 1024)
    slugs = labels.check_label_slugs(body.labels)
    saved = await labels.set_project_labels(request.app[SERVICES].pool, caller.user_id, project_id, slugs)
    return json_response({"project_id": project_id, "labels": [_label_json(label) for label in saved]})


# Administration


async def _require_admin(request: web.Request) -> Viewer:
    viewer = await require_viewer(request)
    if not viewer.is_admin:
        raise Forbidden(ADMINS_ONLY)
    return viewer


async def _tag_in_path(request: web.Request) -> tags.Tag:
    tag = await tags.get_tag(request.app[SERVICES].pool, uuid_param(request, "tag_id", NO_SUCH_TAG))
    if tag is None:
        raise NotFound(NO_SUCH_TAG)
    return tag


async def _admin_tags_page(
    request: web.Request, *, problem: ValidationFailed | None = None, form: Mapping[str, str] | None = None
) -> web.Response:
    context = {
        "tags": await tags.list_tags(request.app[SERVICES].pool),
        "form": form or {"parent": request.query.get("parent", "")[:100]},
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
    }
    if problem is not None:
        return await render_problem(request, "store/admin_tags.html", problem, context)
    return await render(request, "store/admin_tags.html", context)


async def admin_tags(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    return await _admin_tags_page(request)


async def create_tag(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("name", "slug", "parent", "description")}
    try:
        fields = tags.check_tag_fields(**values, failed="The tag was not created.")
        await tags.create_tag(request.app[SERVICES].pool, fields)
    except ValidationFailed as problem:
        return await _admin_tags_page(request, problem=problem, form=values)
    return redirect("/admin/tags?saved=created")


async def save_tag(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    tag = await _tag_in_path(request)
    form = await read_form(request)
    values = {"name": field(form, "name"), "description": field(form, "description")}
    try:
        fields = tags.check_tag_fields(**values, slug=tag.slug, parent="", failed="The tag was not saved.")
        await tags.update_tag(request.app[SERVICES].pool, tag.id, fields)
    except ValidationFailed as problem:
        return await _admin_tags_page(request, problem=problem)
    return redirect("/admin/tags?saved=saved")


async def confirm_delete_tag(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    tag = await _tag_in_path(request)
    count, taggings = await tags.deletion_impact(request.app[SERVICES].pool, tag)
    below = f" and the {count - 1} tags below it" if count > 1 else ""
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a tag",
            question=f"Delete the tag {tag.name} ({tag.path})?",
            consequence=f"This deletes {tag.name}{below}; {taggings} items lose these tags. It cannot be undone.",
            button="Delete the tag",
            cancel="/admin/tags",
        ),
    )


async def delete_tag(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    await tags.delete_tag(request.app[SERVICES].pool, uuid_param(request, "tag_id", NO_SUCH_TAG))
    return redirect("/admin/tags?saved=deleted")


_LABEL_FIELDS = ("slug", "display_name", "definition", "examples", "nonexamples", "sort_order")


async def _label_in_path(request: web.Request) -> labels.Label:
    label = await labels.get_label(request.app[SERVICES].pool, uuid_param(request, "label_id", NO_SUCH_LABEL))
    if label is None:
        raise NotFound(NO_SUCH_LABEL)
    return label


async def _admin_labels_page(
    request: web.Request, *, problem: ValidationFailed | None = None, form: Mapping[str, str] | None = None
) -> web.Response:
    context = {
        "labels": await labels.list_labels(request.app[SERVICES].pool),
        "form": form or {"sort_order": "0"},
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
    }
    if problem is not None:
        return await render_problem(request, "store/admin_labels.html", problem, context)
    return await render(request, "store/admin_labels.html", context)


async def admin_labels(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    return await _admin_labels_page(request)


async def create_label(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in _LABEL_FIELDS}
    try:
        fields = labels.check_label_fields(**values, failed="The label was not created.")
        await labels.create_label(request.app[SERVICES].pool, fields)
    except ValidationFailed as problem:
        return await _admin_labels_page(request, problem=problem, form=values)
    return redirect("/admin/labels?saved=label-created")


async def save_label(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    label = await _label_in_path(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in _LABEL_FIELDS}
    values["slug"] = label.slug
    try:
        fields = labels.check_label_fields(**values, failed="The label was not saved.")
        await labels.update_label(request.app[SERVICES].pool, label.id, fields)
    except ValidationFailed as problem:
        return await _admin_labels_page(request, problem=problem)
    return redirect("/admin/labels?saved=saved")


async def confirm_delete_label(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    label = await _label_in_path(request)
    count = await labels.count_label_projects(request.app[SERVICES].pool, label.id)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a label",
            question=f"Delete the label {label.display_name}?",
            consequence=f"{count} projects lose it, and searches by it stop working. It cannot be undone.",
            button="Delete the label",
            cancel="/admin/labels",
        ),
    )


async def delete_label(request: web.Request) -> web.StreamResponse:
    await _require_admin(request)
    await labels.delete_label(request.app[SERVICES].pool, uuid_param(request, "label_id", NO_SUCH_LABEL))
    return redirect("/admin/labels?saved=deleted")


# Home, sitemap, robots


async def home(request: web.Request) -> web.StreamResponse:
    page = await home_page.home_page(request.app[SERVICES].pool)
    return _conditional(request, await render(request, "store/home.html", {"home": page}), PAGE_CACHE)


async def sitemap(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    text = await home_page.sitemap_xml(services.pool, services.config.base_url)
    response = web.Response(text=text, content_type="application/xml")
    return _conditional(request, response, FILE_CACHE)


async def robots(request: web.Request) -> web.StreamResponse:
    response = web.Response(text=home_page.robots_txt(request.app[SERVICES].config.base_url))
    return _conditional(request, response, FILE_CACHE)


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints, and takes over ``/`` (`mnwd.web.home.set_home_page`)."""
    set_home_page(app, home)
    app.router.add_get("/search", search_page)
    app.router.add_get("/api/v1/search", search_api)
    app.router.add_get("/api/v1/tags", tags_api)
    app.router.add_get("/api/v1/labels", labels_api)
    # Item pages show tags and labels: kept ones are forgotten after a change.
    app.router.add_put("/api/v1/items/{item_id}/tags", changes_catalog(put_item_tags))
    app.router.add_put("/api/v1/projects/{project_id}/labels", changes_catalog(put_project_labels))
    app.router.add_get("/tags/{slug}", tag_page)
    app.router.add_get("/admin/tags", admin_tags)
    app.router.add_post("/admin/tags", create_tag)
    app.router.add_post("/admin/tags/{tag_id}", save_tag)
    app.router.add_get("/admin/tags/{tag_id}/delete", confirm_delete_tag)
    app.router.add_post("/admin/tags/{tag_id}/delete", delete_tag)
    app.router.add_get("/admin/labels", admin_labels)
    app.router.add_post("/admin/labels", create_label)
    app.router.add_post("/admin/labels/{label_id}", save_label)
    app.router.add_get("/admin/labels/{label_id}/delete", confirm_delete_label)
    app.router.add_post("/admin/labels/{label_id}/delete", delete_label)
    app.router.add_get("/sitemap.xml", sitemap)
    app.router.add_get("/robots.txt", robots)
