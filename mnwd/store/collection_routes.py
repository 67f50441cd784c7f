"""Collections over HTTP: the viewer's lists at ``/collections``, a collection's page at
``/collections/{id}`` (with the owner's controls), the forms that change them, and the JSON API under
``/api/v1/collections`` (scopes ``collections:read``, ``collections:write``)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import msgspec
from aiohttp import web

from mnwd.accounts import get_viewer, require_viewer
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.oauth import require_api_user
from mnwd.store import collections
from mnwd.store.conditional import PRIVATE, PUBLIC, conditional
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import Form, checkbox, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation, safe_next
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SAVED = {
    "created": "The collection was created.",
    "saved": "The collection was saved.",
    "added": "The item was added.",
    "removed": "The item was removed.",
    "deleted": "The collection was deleted.",
}
MAX_BODY = 64 * 1024


class CollectionBody(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    slug: str = ""
    description: str = ""
    is_public: bool = False


class CollectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: str | None = None
    slug: str | None = None
    description: str | None = None
    is_public: bool | None = None


class ItemBody(msgspec.Struct, forbid_unknown_fields=True):
    item_id: uuid.UUID
    note: str = ""


class OrderBody(msgspec.Struct, forbid_unknown_fields=True):
    item_ids: list[uuid.UUID]


def _collection_id(request: web.Request) -> uuid.UUID:
    return uuid_param(request, "collection_id", collections.NO_SUCH_COLLECTION)


def _item_id(request: web.Request) -> uuid.UUID:
    return uuid_param(request, "item_id", collections.NO_SUCH_ITEM)


def _input(form: Form) -> collections.CollectionInput:
    return collections.CollectionInput(
        title=field(form, "title"),
        slug=field(form, "slug"),
        description=field(form, "description"),
        is_public=checkbox(form, "is_public"),
    )


async def _list_context(request: web.Request, user_id: uuid.UUID) -> dict[str, Any]:
    return {
        "collections": await collections.list_collections(request.app[SERVICES].pool, user_id),
        "saved": SAVED.get(request.query.get("saved", "")),
    }


async def collections_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    context = {**await _list_context(request, viewer.user_id), "form": {"item_id": request.query.get("item", "")}}
    return await render(request, "store/collections.html", context)


async def create_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    data = _input(form)
    pool = request.app[SERVICES].pool
    try:
        created = await collections.create_collection(pool, viewer.user_id, data)
    except (ValidationFailed, Conflict) as problem:
        context = {
            **await _list_context(request, viewer.user_id),
            "form": {**data.__dict__, "item_id": field(form, "item_id")},
        }
        return await render_problem(request, "store/collections.html", problem, context)
    raw_item = field(form, "item_id")
    if raw_item:
        # The collection is made; an item that is gone or hidden is simply not added.
        with contextlib.suppress(ValueError, NotFound):
            await collections.add_item(request.app[SERVICES], viewer.user_id, created, uuid.UUID(raw_item))
    return redirect(f"/collections/{created}?saved=created")


async def collection_page(request: web.Request) -> web.Response:
    viewer = await get_viewer(request)
    viewer_id = viewer.user_id if viewer else None
    found = await collections.get_visible_collection(request.app[SERVICES].pool, _collection_id(request), viewer_id)
    if found is None:
        raise NotFound(collections.NO_SUCH_COLLECTION)
    is_owner = found.collection.user_id == viewer_id
    base_url = request.app[SERVICES].config.base_url.rstrip("/")
    context = {
        "canonical": f"{base_url}/collections/{found.collection.id}",
        "collection": found.collection,
        "items": found.items,
        "is_owner": is_owner,
        "saved": SAVED.get(request.query.get("saved", "")),
        "form": found.collection.__dict__,
    }
    response = await render(request, "store/collection.html", context)
    return conditional(request, response, PUBLIC if found.collection.is_public and not is_owner else PRIVATE)


async def save_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    collection_id = _collection_id(request)
    pool = request.app[SERVICES].pool
    current = await collections.get_owned_collection(pool, viewer.user_id, collection_id)
    data = _input(await read_form(request))
    try:
        await collections.update_collection(pool, viewer.user_id, collection_id, data)
    except (ValidationFailed, Conflict) as problem:
        found = await collections.get_visible_collection(pool, collection_id, viewer.user_id)
        context = {
            "collection": current,
            "items": found.items if found else [],
            "is_owner": True,
            "form": data.__dict__,
        }
        return await render_problem(request, "store/collection.html", problem, context)
    return redirect(f"/collections/{collection_id}?saved=saved")


async def confirm_delete(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    found = await collections.get_owned_collection(request.app[SERVICES].pool, viewer.user_id, _collection_id(request))
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a collection",
            question=f"Delete the collection {found.title}?",
            consequence="The list goes; the items in it stay where they are.",
            button="Delete the collection",
            cancel=found.url,
        ),
    )


async def delete_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    await collections.delete_collection(request.app[SERVICES].pool, viewer.user_id, _collection_id(request))
    return redirect("/collections?saved=deleted")


async def add_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    collection_id = _collection_id(request)
    form = await read_form(request)
    try:
        item_id = uuid.UUID(field(form, "item_id"))
    except ValueError:
        raise NotFound(collections.NO_SUCH_ITEM) from None
    await collections.add_item(request.app[SERVICES], viewer.user_id, collection_id, item_id, field(form, "note"))
    return redirect(safe_next(field(form, "next"), f"/collections/{collection_id}?saved=added"))


async def remove_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    collection_id = _collection_id(request)
    await collections.remove_item(request.app[SERVICES], viewer.user_id, collection_id, _item_id(request))
    return redirect(f"/collections/{collection_id}?saved=removed")


async def move_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    collection_id = _collection_id(request)
    form = await read_form(request)
    await collections.move_item(
        request.app[SERVICES], viewer.user_id, collection_id, _item_id(request), field(form, "direction")
    )
    return redirect(f"/collections/{collection_id}")


def _page_json(page: collections.CollectionPage) -> dict[str, object]:
    return {**page.collection.as_json(), "items": [i.as_json() for i in page.items]}


async def api_list(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:read")
    listed = await collections.list_collections(request.app[SERVICES].pool, caller.user_id)
    return json_response({"collections": [c.as_json() for c in listed]})


@csrf_exempt
async def api_create(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    body = await read_json(request, CollectionBody, max_bytes=MAX_BODY)
    data = collections.CollectionInput(body.title, body.slug, body.description, body.is_public)
    pool = request.app[SERVICES].pool
    created = await collections.create_collection(pool, caller.user_id, data)
    found = await collections.get_visible_collection(pool, created, caller.user_id)
    assert found is not None
    return json_response(_page_json(found), status=201, headers={"Location": f"/api/v1/collections/{created}"})


async def api_get(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:read")
    found = await collections.get_visible_collection(
        request.app[SERVICES].pool, _collection_id(request), caller.user_id
    )
    if found is None:
        raise NotFound(collections.NO_SUCH_COLLECTION)
    return json_response(_page_json(found))


@csrf_exempt
async def api_patch(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    collection_id = _collection_id(request)
    pool = request.app[SERVICES].pool
    current = await collections.get_owned_collection(pool, caller.user_id, collection_id)
    patch = await read_json(request, CollectionPatch, max_bytes=MAX_BODY)
    data = collections.CollectionInput(
        title=current.title if patch.title is None else patch.title,
        slug=current.slug if patch.slug is None else patch.slug,
        description=(current.description or "") if patch.description is None else patch.description,
        is_public=current.is_public if patch.is_public is None else patch.is_public,
    )
    await collections.update_collection(pool, caller.user_id, collection_id, data)
    found = await collections.get_visible_collection(pool, collection_id, caller.user_id)
    assert found is not None
    return json_response(_page_json(found))


@csrf_exempt
async def api_delete(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    await collections.delete_collection(request.app[SERVICES].pool, caller.user_id, _collection_id(request))
    return web.Response(status=204)


@csrf_exempt
async def api_add(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    collection_id = _collection_id(request)
    body = await read_json(request, ItemBody, max_bytes=MAX_BODY)
    added = await collections.add_item(request.app[SERVICES], caller.user_id, collection_id, body.item_id, body.note)
    found = await collections.get_visible_collection(request.app[SERVICES].pool, collection_id, caller.user_id)
    assert found is not None
    return json_response(_page_json(found), status=201 if added else 200)


@csrf_exempt
async def api_remove(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    await collections.remove_item(request.app[SERVICES], caller.user_id, _collection_id(request), _item_id(request))
    return web.Response(status=204)


@csrf_exempt
async def api_order(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="collections:write")
    collection_id = _collection_id(request)
    body = await read_json(request, OrderBody, max_bytes=MAX_BODY)
    await collections.reorder(request.app[SERVICES], caller.user_id, collection_id, body.item_ids)
    found = await collections.get_visible_collection(request.app[SERVICES].pool, collection_id, caller.user_id)
    assert found is not None
    return json_response(_page_json(found))


def setup(app: web.Application) -> None:
    app.router.add_get("/collections", collections_page)
    app.router.add_post("/collections", create_form)
    app.router.add_get("/collections/{collection_id}", collection_page)
    app.router.add_post("/collections/{collection_id}", save_form)
    app.router.add_get("/collections/{collection_id}/delete", confirm_delete)
    app.router.add_post("/collections/{collection_id}/delete", delete_form)
    app.router.add_post("/collections/{collection_id}/items", add_form)
    app.router.add_post("/collections/{collection_id}/items/{item_id}/remove", remove_form)
    app.router.add_post("/collections/{collection_id}/items/{item_id}/move", move_form)
    app.router.add_get("/api/v1/collections", api_list)
    app.router.add_post("/api/v1/collections", api_create)
    app.router.add_get("/api/v1/collections/{collection_id}", api_get)
    app.router.add_patch("/api/v1/collections/{collection_id}", api_patch)
    app.router.add_delete("/api/v1/collections/{collection_id}", api_delete)
    app.router.add_post("/api/v1/collections/{collection_id}/items", api_add)
    app.router.add_delete("/api/v1/collections/{collection_id}/items/{item_id}", api_remove)
    app.router.add_put("/api/v1/collections/{collection_id}/order", api_order)
