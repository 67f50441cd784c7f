"""Creator profiles, projects, items, versions, bundles: public pages, the dashboard and /api/v1/ for creators.

This module holds the JSON API (docs/store.md); the public pages are `pages_catalog`, the dashboard
`pages_dashboard`. Every ``/api/v1`` endpoint authenticates with `require_api_user` (a personal access token
holding ``store:read``/``store:write``, or the signed-in session with its CSRF header) and acts only on the
caller's own projects and items: another creator's id is answered 404, as one that does not exist.
``GET /api/v1/items/{id}`` also answers anyone for a public item.

``PUT /api/v1/items/{id}/versions?version=&changelog=&filename=`` takes the file as the body, streamed into the
store: the caller, the item, the fields and the size declared by ``Content-Length`` (411 without; 413 past the
tier's largest file or storage left) are all checked before a byte is read, and a client that sent
``Expect: 100-continue`` is told to go on only then.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from aiohttp import web

from mnwd.accounts import get_viewer
from mnwd.oauth import ApiUser, require_api_user
from mnwd.store import creators, item_parts, items, pages_catalog, pages_dashboard, projects, versions
from mnwd.store.pages_catalog import changes_catalog
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
from mnwd.web.params import uuid_param
from mnwd.web.uploads import declared_length, defer_continue, send_continue

__all__ = ["setup"]

READ = "store:read"
WRITE = "store:write"
BODY_CHUNK = 256 * 1024
NO_SUCH_PROJECT = "There is no such project."
NO_SUCH_ITEM = "There is no such item."


class ProjectBody(msgspec.Struct, forbid_unknown_fields=True):
    slug: str | msgspec.UnsetType = msgspec.UNSET
    title: str | msgspec.UnsetType = msgspec.UNSET
    type: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    visibility: str | msgspec.UnsetType = msgspec.UNSET
    category: str | msgspec.UnsetType | None = msgspec.UNSET


class ItemBody(msgspec.Struct, forbid_unknown_fields=True):
    slug: str | msgspec.UnsetType = msgspec.UNSET
    title: str | msgspec.UnsetType = msgspec.UNSET
    type: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    body: str | msgspec.UnsetType | None = msgspec.UNSET
    price_cents: int | msgspec.UnsetType = msgspec.UNSET
    pwyw_min_cents: int | msgspec.UnsetType | None = msgspec.UNSET
    visibility: str | msgspec.UnsetType = msgspec.UNSET
    duration_seconds: float | msgspec.UnsetType | None = msgspec.UNSET


class ChapterBody(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    start_seconds: float
    url: str | None = None


class SectionBody(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    slug: str
    body: str = ""
    sort_order: int = 0


class BundleBody(msgspec.Struct, forbid_unknown_fields=True):
    item_ids: list[uuid.UUID]


def _given(body: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.__struct_fields__ if getattr(body, name) is not msgspec.UNSET}


async def _creator(request: web.Request, scope: str) -> tuple[ApiUser, creators.Creator]:
    caller = await require_api_user(request, scope=scope)
    return caller, await creators.require_creator(request.app[SERVICES].pool, caller.user_id)


async def _own_project(request: web.Request, scope: str) -> tuple[creators.Creator, projects.Project]:
    project_id = uuid_param(request, "project_id", NO_SUCH_PROJECT)
    caller = await require_api_user(request, scope=scope)
    pool = request.app[SERVICES].pool
    project = await projects.get_owned_project(pool, caller.user_id, project_id)
    return await creators.require_creator(pool, caller.user_id), project


async def _own_item(request: web.Request, scope: str) -> tuple[creators.Creator, items.Item]:
    item_id = uuid_param(request, "item_id", NO_SUCH_ITEM)
    caller = await require_api_user(request, scope=scope)
    pool = request.app[SERVICES].pool
    item = await items.get_owned_item(pool, caller.user_id, item_id)
    return await creators.require_creator(pool, caller.user_id), item


# --- profile ------------------------------------------------------------------------------------------------


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True):
    display_name: str | msgspec.UnsetType | None = msgspec.UNSET
    bio: str | msgspec.UnsetType | None = msgspec.UNSET
    avatar_media_id: str | msgspec.UnsetType | None = msgspec.UNSET


class LinkBody(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    url: str
    sort_order: int = 0


async def _profile_document(request: web.Request, creator: creators.Creator) -> dict[str, Any]:
    links = await creators.list_links(request.app[SERVICES].pool, creator.id)
    return {
        "username": creator.username,
        "display_name": creator.display_name,
        "bio": creator.bio,
        "avatar_media_id": creator.avatar_media_id,
        "avatar_url": creator.avatar,
        "url": creator.url,
        "links": [
            {"id": link.id, "title": link.title, "url": link.url, "sort_order": link.sort_order} for link in links
        ],
    }


async def get_profile(request: web.Request) -> web.Response:
    _, creator = await _creator(request, READ)
    return json_response(await _profile_document(request, creator))


@csrf_exempt
async def update_profile(request: web.Request) -> web.Response:
    _, creator = await _creator(request, WRITE)
    given = _given(await read_json(request, ProfileBody))

    def kept(name: str, current: object) -> str:
        value = given.get(name, current)
        return "" if value is None else str(value)

    pool = request.app[SERVICES].pool
    await creators.update_profile(
        pool,
        creator,
        display_name=kept("display_name", creator.display_name),
        bio=kept("bio", creator.bio),
        avatar_media_id=kept("avatar_media_id", creator.avatar_media_id),
    )
    updated = await creators.require_creator(pool, creator.id)
    return json_response(await _profile_document(request, updated))


@csrf_exempt
async def add_link(request: web.Request) -> web.Response:
    _, creator = await _creator(request, WRITE)
    body = await read_json(request, LinkBody)
    link = await creators.add_link(
        request.app[SERVICES].pool, creator, title=body.title, url=body.url, sort_order=str(body.sort_order)
    )
    return json_response(
        {"id": link.id, "title": link.title, "url": link.url, "sort_order": link.sort_order}, status=201
    )


@csrf_exempt
async def delete_link(request: web.Request) -> web.Response:
    link_id = uuid_param(request, "link_id", "There is no such link.")
    _, creator = await _creator(request, WRITE)
    await creators.delete_link(request.app[SERVICES].pool, creator.id, link_id)
    return web.Response(status=204)


# --- projects -----------------------------------------------------------------------------------------------


@csrf_exempt
async def create_project(request: web.Request) -> web.Response:
    _, creator = await _creator(request, WRITE)
    body = await read_json(request, ProjectBody)
    project = await projects.create_project(request.app[SERVICES], creator, _given(body))
    return json_response(project.as_json(), status=201, headers={"Location": f"/api/v1/projects/{project.id}"})


async def list_projects(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope=READ)
    found = await projects.list_projects(request.app[SERVICES].pool, caller.user_id, include_private=True)
    return json_response({"projects": [p.as_json() for p in found]})


async def get_project(request: web.Request) -> web.Response:
    _, project = await _own_project(request, READ)
    listed = await items.list_items(request.app[SERVICES].pool, project, include_private=True)
    return json_response({**project.as_json(), "items": [i.as_json() for i in listed]})


@csrf_exempt
async def update_project(request: web.Request) -> web.Response:
    _, project = await _own_project(request, WRITE)
    body = await read_json(request, ProjectBody)
    updated = await projects.update_project(request.app[SERVICES].pool, project, _given(body))
    return json_response(updated.as_json())


@csrf_exempt
async def delete_project(request: web.Request) -> web.Response:
    _, project = await _own_project(request, WRITE)
    await projects.delete_project(request.app[SERVICES], project)
    return web.Response(status=204)


# --- items --------------------------------------------------------------------------------------------------


@csrf_exempt
async def create_item(request: web.Request) -> web.Response:
    _, project = await _own_project(request, WRITE)
    body = await read_json(request, ItemBody)
    item = await items.create_item(request.app[SERVICES].pool, project, _given(body))
    return json_response(item.as_json(), status=201, headers={"Location": f"/api/v1/items/{item.id}"})


async def list_project_items(request: web.Request) -> web.Response:
    _, project = await _own_project(request, READ)
    listed = await items.list_items(request.app[SERVICES].pool, project, include_private=True)
    return json_response({"items": [i.as_json() for i in listed]})


async def _item_document(request: web.Request, item: items.Item, *, owner: bool) -> dict[str, Any]:
    pool = request.app[SERVICES].pool
    listed = await versions.list_versions(pool, item)
    bundle = await item_parts.list_bundle_items(pool, item, include_private=owner)
    return {
        **item.as_json(),
        "versions": [v.as_json(item) for v in listed],
        "chapters": [c.as_json() for c in await item_parts.list_chapters(pool, item)],
        "sections": [s.as_json() for s in await item_parts.list_sections(pool, item)],
        "bundle_items": [{"id": b.id, "title": b.title, "url": b.url} for b in bundle],
    }


async def get_item(request: web.Request) -> web.Response:
    """The owner's item with a token or session; anyone (signed in or not) gets a public one."""
    item_id = uuid_param(request, "item_id", NO_SUCH_ITEM)
    pool = request.app[SERVICES].pool
    user_id: uuid.UUID | None = None
    if "Authorization" in request.headers:
        user_id = (await require_api_user(request, scope=READ)).user_id
    else:
        viewer = await get_viewer(request)
        user_id = None if viewer is None else viewer.user_id
    row = await items.find_item(pool, item_id)
    if row is None or not items.can_view(row, user_id):
        raise items.item_not_found()
    return json_response(await _item_document(request, row, owner=row.user_id == user_id))


@csrf_exempt
async def update_item(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    body = await read_json(request, ItemBody)
    updated = await items.update_item(request.app[SERVICES].pool, item, _given(body))
    return json_response(updated.as_json())


@csrf_exempt
async def delete_item(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    await items.delete_item(request.app[SERVICES], item)
    return web.Response(status=204)


# --- versions -----------------------------------------------------------------------------------------------


@csrf_exempt
async def put_version(request: web.Request) -> web.Response:
    creator, item = await _own_item(request, WRITE)
    size = declared_length(request, "the file")
    query = request.query
    upload = versions.check_version_input(
        query.get("version", ""),
        query.get("changelog"),
        query.get("filename") or f"{item.slug}-{query.get('version', '')}",
        request.headers.get("Content-Type"),
    )
    versions.check_declared_size(creator, size)
    await send_continue(request)
    version = await versions.store_version(
        request.app[SERVICES], creator, item, upload, request.content.iter_chunked(BODY_CHUNK), size=size
    )
    return json_response(version.as_json(item), status=201)


async def list_item_versions(request: web.Request) -> web.Response:
    _, item = await _own_item(request, READ)
    listed = await versions.list_versions(request.app[SERVICES].pool, item)
    return json_response({"versions": [v.as_json(item) for v in listed]})


@csrf_exempt
async def delete_item_version(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    version_id = uuid_param(request, "version_id", "There is no such version.")
    await versions.delete_version(request.app[SERVICES], item, version_id)
    return web.Response(status=204)


# --- chapters, sections, bundles ----------------------------------------------------------------------------


@csrf_exempt
async def add_chapter(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    body = await read_json(request, ChapterBody)
    chapter = await item_parts.add_chapter(
        request.app[SERVICES].pool, item, title=body.title, start_seconds=body.start_seconds, url=body.url
    )
    return json_response(chapter.as_json(), status=201)


@csrf_exempt
async def delete_chapter(request: web.Request) -> web.Response:
    chapter_id = uuid_param(request, "chapter_id", "There is no such chapter.")
    caller, _ = await _creator(request, WRITE)
    await item_parts.delete_chapter(request.app[SERVICES].pool, caller.user_id, chapter_id)
    return web.Response(status=204)


@csrf_exempt
async def add_section(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    body = await read_json(request, SectionBody)
    section = await item_parts.add_section(
        request.app[SERVICES].pool, item, title=body.title, slug=body.slug, body=body.body, sort_order=body.sort_order
    )
    return json_response(section.as_json(), status=201)


@csrf_exempt
async def delete_section(request: web.Request) -> web.Response:
    section_id = uuid_param(request, "section_id", "There is no such section.")
    caller, _ = await _creator(request, WRITE)
    await item_parts.delete_section(request.app[SERVICES].pool, caller.user_id, section_id)
    return web.Response(status=204)


@csrf_exempt
async def set_bundle(request: web.Request) -> web.Response:
    _, item = await _own_item(request, WRITE)
    body = await read_json(request, BundleBody)
    held = await item_parts.set_bundle_items(request.app[SERVICES], item, body.item_ids)
    return json_response({"item_ids": [i.id for i in held]})


def setup_api(app: web.Application) -> None:
    add = app.router
    add.add_get("/api/v1/profile", get_profile)
    add.add_patch("/api/v1/profile", changes_catalog(update_profile))
    add.add_post("/api/v1/profile/links", changes_catalog(add_link))
    add.add_delete("/api/v1/profile/links/{link_id}", changes_catalog(delete_link))
    add.add_post("/api/v1/projects", changes_catalog(create_project))
    add.add_get("/api/v1/projects", list_projects)
    add.add_get("/api/v1/projects/{project_id}", get_project)
    add.add_patch("/api/v1/projects/{project_id}", changes_catalog(update_project))
    add.add_delete("/api/v1/projects/{project_id}", changes_catalog(delete_project))
    add.add_post("/api/v1/projects/{project_id}/items", changes_catalog(create_item))
    add.add_get("/api/v1/projects/{project_id}/items", list_project_items)
    add.add_get("/api/v1/items/{item_id}", get_item)
    add.add_patch("/api/v1/items/{item_id}", changes_catalog(update_item))
    add.add_delete("/api/v1/items/{item_id}", changes_catalog(delete_item))
    add.add_put("/api/v1/items/{item_id}/versions", changes_catalog(put_version), expect_handler=defer_continue)
    add.add_get("/api/v1/items/{item_id}/versions", list_item_versions)
    add.add_delete("/api/v1/items/{item_id}/versions/{version_id}", changes_catalog(delete_item_version))
    add.add_post("/api/v1/items/{item_id}/chapters", changes_catalog(add_chapter))
    add.add_delete("/api/v1/chapters/{chapter_id}", changes_catalog(delete_chapter))
    add.add_post("/api/v1/items/{item_id}/sections", changes_catalog(add_section))
    add.add_delete("/api/v1/sections/{section_id}", changes_catalog(delete_section))
    add.add_put("/api/v1/items/{item_id}/bundle", changes_catalog(set_bundle))


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
    setup_api(app)
    pages_dashboard.setup(app)
    pages_catalog.setup(app)
