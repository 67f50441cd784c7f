"""The creator's dashboard for the catalog, under ``/dashboard/store``: profile and links, projects, items,
file versions (an upload form), chapters, sections, bundles, a project's labels and an item's tags (checkbox
forms over ``mnwd.store.labels.set_project_labels`` and ``mnwd.store.tags.set_item_tags``).

Every page needs a signed-in creator; every id in a path must be one of theirs (another's is "not found").
Forms carry the CSRF token; a form with mistakes comes back with them shown (422) and nothing written.

The upload form is ``multipart/form-data`` streamed into the store, so its handler does the CSRF check itself
(the middleware would read the whole body to find the token): the request must come from this site, its
``Content-Length`` must be within the tier's largest file (413 before a byte is read), and its first part must
be the ``csrf_token`` field, checked before the file part is read.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, web

from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import BadRequest, PayloadTooLarge, Problem, ValidationFailed
from mnwd.store import creators, item_parts, items, labels, projects, tags, versions
from mnwd.store.fields import FieldErrors, SlugTaken, VersionTaken, parse_uuid
from mnwd.store.limits import limits_for
from mnwd.store.pages_catalog import changes_catalog
from mnwd.web.csrf import CSRF_FIELD, CsrfFailed, csrf_exempt, csrf_valid, from_another_site
from mnwd.web.forms import Form, field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param
from mnwd.web.uploads import LengthRequired

__all__ = ["setup"]

BASE = "/dashboard/store"
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FORM_FIELD_BYTES = 64 * 1024
SAVED = {
    "profile": "Your profile was saved.",
    "link": "The link was added.",
    "link-deleted": "The link was removed.",
    "project": "The project was saved.",
    "project-deleted": "The project was deleted.",
    "item": "The item was saved.",
    "item-deleted": "The item was deleted.",
    "uploaded": "The file was uploaded; it is the current version now.",
    "version-deleted": "The version was deleted.",
    "chapter": "The chapter was added.",
    "chapter-deleted": "The chapter was removed.",
    "section": "The section was added.",
    "section-deleted": "The section was removed.",
    "bundle": "The bundle was saved.",
    "labels": "The labels were saved.",
    "tags": "The tags were saved.",
}


async def _creator(request: web.Request) -> tuple[Viewer, creators.Creator]:
    viewer = await require_viewer(request)
    return viewer, await creators.require_creator(request.app[SERVICES].pool, viewer.user_id)


async def _project(request: web.Request) -> tuple[creators.Creator, projects.Project]:
    _, creator = await _creator(request)
    project_id = uuid_param(request, "project_id", projects.NO_SUCH_PROJECT)
    return creator, await projects.get_owned_project(request.app[SERVICES].pool, creator.id, project_id)


async def _item(request: web.Request) -> tuple[creators.Creator, items.Item]:
    _, creator = await _creator(request)
    item_id = uuid_param(request, "item_id", items.NO_SUCH_ITEM)
    return creator, await items.get_owned_item(request.app[SERVICES].pool, creator.id, item_id)


def _saved(request: web.Request) -> str | None:
    return SAVED.get(request.query.get("saved", ""))


def _project_values(form: Form) -> dict[str, Any]:
    return {name: field(form, name) for name in ("slug", "title", "type", "description", "visibility", "category")}


def _item_values(form: Form, errors: FieldErrors) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: field(form, name, max_chars=200_000) for name in ("slug", "title", "type", "description", "body")
    }
    values["visibility"] = field(form, "visibility") or "public"
    values["price_cents"] = _cents(errors, "price", field(form, "price"))
    values["pwyw_min_cents"] = _cents(errors, "pwyw_min", field(form, "pwyw_min")) if field(form, "pwyw") else None
    if field(form, "duration_seconds").strip():
        values["duration_seconds"] = errors.number("duration_seconds", field(form, "duration_seconds"))
    return values


def _cents(errors: FieldErrors, name: str, raw: str) -> int | None:
    """A price typed as money ("4.99") in cents; '' is 0."""
    amount = errors.number(name, raw or "0")
    if amount is None:
        return 0
    if amount < 0:
        errors.add(name, "A price cannot be negative.")
        return 0
    return round(amount * 100)


# --- overview and profile -----------------------------------------------------------------------------------


async def home_page(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    pool = request.app[SERVICES].pool
    limits = limits_for(creator.creator_tier)
    return await render(
        request,
        "store/dashboard/home.html",
        {
            "creator": creator,
            "limits": limits,
            "projects": await projects.list_projects(pool, creator.id, include_private=True),
            "saved": _saved(request),
        },
    )


async def _profile_page(
    request: web.Request, creator: creators.Creator, *, problem: Problem | None = None, form: Any = None
) -> web.Response:
    context = {
        "creator": creator,
        "links": await creators.list_links(request.app[SERVICES].pool, creator.id),
        "form": form
        or {
            "display_name": creator.display_name or "",
            "bio": creator.bio or "",
            "avatar_media_id": str(creator.avatar_media_id or ""),
        },
        "saved": _saved(request),
    }
    if problem is not None:
        return await render_problem(request, "store/dashboard/profile.html", problem, context)
    return await render(request, "store/dashboard/profile.html", context)


async def profile_page(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    return await _profile_page(request, creator)


async def save_profile(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("display_name", "bio", "avatar_media_id")}
    try:
        await creators.update_profile(request.app[SERVICES].pool, creator, **values)
    except ValidationFailed as problem:
        return await _profile_page(request, creator, problem=problem, form=values)
    return redirect(f"{BASE}/profile?saved=profile")


async def add_link(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    form = await read_form(request)
    try:
        await creators.add_link(
            request.app[SERVICES].pool,
            creator,
            title=field(form, "title"),
            url=field(form, "url"),
            sort_order=field(form, "sort_order"),
        )
    except ValidationFailed as problem:
        return await _profile_page(request, creator, problem=problem)
    return redirect(f"{BASE}/profile?saved=link")


async def delete_link(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    link_id = uuid_param(request, "link_id", "There is no such link.")
    await creators.delete_link(request.app[SERVICES].pool, creator.id, link_id)
    return redirect(f"{BASE}/profile?saved=link-deleted")


# --- projects -----------------------------------------------------------------------------------------------


async def _project_form(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    problem: Problem | None = None,
) -> web.Response:
    context = {
        **context,
        "categories": await projects.list_categories(request.app[SERVICES].pool),
        "project_types": projects.PROJECT_TYPES,
        "saved": _saved(request),
    }
    if problem is not None:
        return await render_problem(request, template, problem, context)
    return await render(request, template, context)


async def new_project_page(request: web.Request) -> web.Response:
    await _creator(request)
    return await _project_form(request, "store/dashboard/project_new.html", {"form": {"visibility": "public"}})


async def create_project(request: web.Request) -> web.Response:
    _, creator = await _creator(request)
    values = _project_values(await read_form(request))
    try:
        project = await projects.create_project(request.app[SERVICES], creator, values)
    except (ValidationFailed, SlugTaken) as problem:
        return await _project_form(request, "store/dashboard/project_new.html", {"form": values}, problem=problem)
    return redirect(f"{BASE}/projects/{project.id}?saved=project")


def _project_form_values(project: projects.Project) -> dict[str, Any]:
    return {
        "slug": project.slug,
        "title": project.title,
        "type": project.project_type,
        "description": project.description or "",
        "visibility": project.visibility,
        "category": project.category or "",
    }


async def _project_page(
    request: web.Request,
    project: projects.Project,
    *,
    problem: Problem | None = None,
    form: Any = None,
    chosen_labels: set[str] | None = None,
) -> web.Response:
    pool = request.app[SERVICES].pool
    listed = await items.list_items(pool, project, include_private=True)
    chosen = (await labels.labels_for_projects(pool, [project.id])).get(project.id, [])
    context = {
        "project": project,
        "items": listed,
        "form": form or _project_form_values(project),
        "all_labels": await labels.list_labels(pool),
        "chosen_labels": chosen_labels if chosen_labels is not None else {label.slug for label in chosen},
    }
    return await _project_form(request, "store/dashboard/project.html", context, problem=problem)


async def project_page(request: web.Request) -> web.Response:
    _, project = await _project(request)
    return await _project_page(request, project)


async def save_project(request: web.Request) -> web.Response:
    _, project = await _project(request)
    values = _project_values(await read_form(request))
    try:
        await projects.update_project(request.app[SERVICES].pool, project, values)
    except (ValidationFailed, SlugTaken) as problem:
        return await _project_page(request, project, problem=problem, form=values)
    return redirect(f"{BASE}/projects/{project.id}?saved=project")


def _slugs(form: Form, name: str) -> list[str]:
    return [value for value in form.getall(name, []) if isinstance(value, str)]


async def save_labels(request: web.Request) -> web.Response:
    _, project = await _project(request)
    chosen = _slugs(await read_form(request), "label")
    try:
        slugs = labels.check_label_slugs(chosen)
        await labels.set_project_labels(request.app[SERVICES].pool, project.user_id, project.id, slugs)
    except ValidationFailed as problem:
        return await _project_page(request, project, problem=problem, chosen_labels=set(chosen))
    return redirect(f"{BASE}/projects/{project.id}?saved=labels")


async def confirm_delete_project(request: web.Request) -> web.Response:
    _, project = await _project(request)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a project",
            question=f"Delete {project.title}?",
            consequence=(
                "Its items and all their files are deleted for good; their storage is freed. Memberships of its "
                "tiers end now: they are cancelled at Stripe and each member is told by mail."
            ),
            button="Delete the project",
            cancel=f"{BASE}/projects/{project.id}",
        ),
    )


async def delete_project(request: web.Request) -> web.Response:
    _, project = await _project(request)
    await projects.delete_project(request.app[SERVICES], project)
    return redirect(f"{BASE}?saved=project-deleted")


# --- items --------------------------------------------------------------------------------------------------


async def _item_form(
    request: web.Request, template: str, context: dict[str, Any], *, problem: Problem | None = None
) -> web.Response:
    context = {**context, "item_types": items.ITEM_TYPES, "saved": _saved(request)}
    if problem is not None:
        return await render_problem(request, template, problem, context)
    return await render(request, template, context)


async def new_item_page(request: web.Request) -> web.Response:
    _, project = await _project(request)
    form = {"visibility": "public", "type": "download", "price": "0"}
    return await _item_form(request, "store/dashboard/item_new.html", {"project": project, "form": form})


async def create_item(request: web.Request) -> web.Response:
    _, project = await _project(request)
    form = await read_form(request)
    errors = FieldErrors()
    values = _item_values(form, errors)
    shown = {name: field(form, name, max_chars=200_000) for name in form}
    try:
        errors.raise_if_any("The item was not saved.")
        item = await items.create_item(request.app[SERVICES].pool, project, values)
    except (ValidationFailed, SlugTaken) as problem:
        context = {"project": project, "form": shown}
        return await _item_form(request, "store/dashboard/item_new.html", context, problem=_renamed(problem))
    return redirect(f"{BASE}/items/{item.id}?saved=item")


def _renamed(problem: Problem) -> Problem:
    """The API's field names as the form's (prices are typed as money there)."""
    names = {"price_cents": "price", "pwyw_min_cents": "pwyw_min"}
    for error in problem.extra.get("errors", []):
        error["field"] = names.get(error["field"], error["field"])
    return problem


def _prefixed(problem: Problem, prefix: str) -> Problem:
    """A chapter's or section's fields as named on the item page, where ``title`` is the item's own."""
    for error in problem.extra.get("errors", []):
        error["field"] = f"{prefix}_{error['field']}"
    return problem


def _item_form_values(item: items.Item) -> dict[str, Any]:
    return {
        "slug": item.slug,
        "title": item.title,
        "type": item.item_type,
        "description": item.description or "",
        "body": item.body or "",
        "visibility": item.visibility,
        "price": f"{item.price_cents / 100:.2f}",
        "pwyw": "on" if item.pwyw_enabled else "",
        "pwyw_min": f"{(item.pwyw_min_cents or 0) / 100:.2f}",
        "duration_seconds": "" if item.duration is None else f"{item.duration:g}",
    }


async def _item_page(
    request: web.Request,
    creator: creators.Creator,
    item: items.Item,
    *,
    problem: Problem | None = None,
    form: Any = None,
    chosen_tags: tuple[set[str], str | None] | None = None,
    part_forms: dict[str, dict[str, str]] | None = None,
) -> web.Response:
    pool = request.app[SERVICES].pool
    own_items = await items.list_owned(pool, creator.id)
    if chosen_tags is None:
        current = await tags.item_tags(pool, item.id)
        chosen_tags = {t.slug for t in current}, next((t.slug for t in current if t.primary), None)
    bundle = await item_parts.list_bundle_items(pool, item, include_private=True)
    context = {
        "item": item,
        "creator": creator,
        "form": form or _item_form_values(item),
        "versions": await versions.list_versions(pool, item),
        "chapters": await item_parts.list_chapters(pool, item),
        "sections": await item_parts.list_sections(pool, item),
        "bundle_ids": {b.id for b in bundle},
        "own_items": [i for i in own_items if i.id != item.id],
        "largest_file": versions.largest_file(creator),
        "all_tags": await tags.list_tags(pool),
        "chosen_tags": chosen_tags[0],
        "primary_tag": chosen_tags[1],
        "chapter_form": {},
        "section_form": {},
        **(part_forms or {}),
    }
    return await _item_form(request, "store/dashboard/item.html", context, problem=problem)


async def item_page(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    return await _item_page(request, creator, item)


async def save_item(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    form = await read_form(request)
    errors = FieldErrors()
    values = _item_values(form, errors)
    if not field(form, "duration_seconds").strip() and item.item_type in {"audio", "video"}:
        values["duration_seconds"] = None
    try:
        errors.raise_if_any("The item was not saved.")
        await items.update_item(request.app[SERVICES].pool, item, values)
    except (ValidationFailed, SlugTaken) as problem:
        shown = {name: field(form, name, max_chars=200_000) for name in form}
        return await _item_page(request, creator, item, problem=_renamed(problem), form=shown)
    return redirect(f"{BASE}/items/{item.id}?saved=item")


async def confirm_delete_item(request: web.Request) -> web.Response:
    _, item = await _item(request)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete an item",
            question=f"Delete {item.title}?",
            consequence="Its files, chapters and sections are deleted for good; their storage is freed.",
            button="Delete the item",
            cancel=f"{BASE}/items/{item.id}",
        ),
    )


async def delete_item(request: web.Request) -> web.Response:
    _, item = await _item(request)
    await items.delete_item(request.app[SERVICES], item)
    return redirect(f"{BASE}/projects/{item.project_id}?saved=item-deleted")


# --- versions -----------------------------------------------------------------------------------------------


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(16 * 1024):
        data += chunk
        if len(data) > MAX_FORM_FIELD_BYTES:
            raise PayloadTooLarge("A form field is too long.", limit=MAX_FORM_FIELD_BYTES)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise BadRequest("A form field is not UTF-8 text.") from None


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(256 * 1024):
        yield chunk


@csrf_exempt
async def upload_version(request: web.Request) -> web.Response:
    if from_another_site(request):
        raise CsrfFailed()
    creator, item = await _item(request)
    if request.content_length is None:
        raise LengthRequired("Send the form with a Content-Length header, so its size is known first.")
    versions.check_declared_size(creator, max(request.content_length - FORM_OVERHEAD_BYTES, 0))
    if request.content_type != "multipart/form-data":
        raise BadRequest("Send the upload form as multipart/form-data.")
    reader = await request.multipart()
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != CSRF_FIELD:
        raise CsrfFailed()
    if not csrf_valid(request, await _small_field(part)):
        raise CsrfFailed()
    fields: dict[str, str] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadRequest("Nested multipart bodies are not accepted.")
        if part.name != "file":
            fields[str(part.name)] = await _small_field(part)
            continue
        try:
            upload = versions.check_version_input(
                fields.get("version", ""),
                fields.get("changelog"),
                part.filename or "",
                part.headers.get("Content-Type"),
            )
        except ValidationFailed as problem:
            return await _item_page(request, creator, item, problem=problem)
        try:
            await versions.store_version(request.app[SERVICES], creator, item, upload, _chunks(part), size=None)
        except VersionTaken as problem:
            return await _item_page(request, creator, item, problem=problem)
        return redirect(f"{BASE}/items/{item.id}?saved=uploaded")
    missing = ValidationFailed(
        "The file was not uploaded.", errors=[{"field": "file", "message": "Choose a file to upload."}]
    )
    return await _item_page(request, creator, item, problem=missing)


async def confirm_delete_version(request: web.Request) -> web.Response:
    _, item = await _item(request)
    version_id = uuid_param(request, "version_id", versions.NO_SUCH_VERSION)
    version = await versions.get_item_version(request.app[SERVICES].pool, item, version_id)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete a version",
            question=f"Delete version {version.version_number} of {item.title}?",
            consequence="Its file is deleted for good and its storage freed. "
            + ("The newest other version becomes the current one." if version.is_current else ""),
            button="Delete the version",
            cancel=f"{BASE}/items/{item.id}",
        ),
    )


async def delete_version(request: web.Request) -> web.Response:
    _, item = await _item(request)
    version_id = uuid_param(request, "version_id", versions.NO_SUCH_VERSION)
    await versions.delete_version(request.app[SERVICES], item, version_id)
    return redirect(f"{BASE}/items/{item.id}?saved=version-deleted")


# --- chapters, sections, bundle -----------------------------------------------------------------------------


async def add_chapter(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    form = await read_form(request)
    errors = FieldErrors()
    start = errors.number("start_seconds", field(form, "start_seconds"))
    try:
        errors.raise_if_any("The chapter was not added.")
        await item_parts.add_chapter(
            request.app[SERVICES].pool, item, title=field(form, "title"), start_seconds=start, url=field(form, "url")
        )
    except ValidationFailed as problem:
        shown = {name: field(form, name) for name in ("title", "start_seconds", "url")}
        return await _item_page(
            request, creator, item, problem=_prefixed(problem, "chapter"), part_forms={"chapter_form": shown}
        )
    return redirect(f"{BASE}/items/{item.id}?saved=chapter")


async def delete_chapter(request: web.Request) -> web.Response:
    _, item = await _item(request)
    chapter_id = uuid_param(request, "chapter_id", "There is no such chapter.")
    await item_parts.delete_chapter(request.app[SERVICES].pool, item.user_id, chapter_id)
    return redirect(f"{BASE}/items/{item.id}?saved=chapter-deleted")


async def add_section(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    form = await read_form(request)
    errors = FieldErrors()
    order = errors.number("sort_order", field(form, "sort_order"), integer=True)
    try:
        errors.raise_if_any("The section was not added.")
        await item_parts.add_section(
            request.app[SERVICES].pool,
            item,
            title=field(form, "title"),
            slug=field(form, "slug"),
            body=field(form, "body", max_chars=200_000),
            sort_order=None if order is None else int(order),
        )
    except (ValidationFailed, SlugTaken) as problem:
        shown = {name: field(form, name, max_chars=200_000) for name in ("title", "slug", "body", "sort_order")}
        return await _item_page(
            request, creator, item, problem=_prefixed(problem, "section"), part_forms={"section_form": shown}
        )
    return redirect(f"{BASE}/items/{item.id}?saved=section")


async def delete_section(request: web.Request) -> web.Response:
    _, item = await _item(request)
    section_id = uuid_param(request, "section_id", "There is no such section.")
    await item_parts.delete_section(request.app[SERVICES].pool, item.user_id, section_id)
    return redirect(f"{BASE}/items/{item.id}?saved=section-deleted")


async def save_bundle(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    form = await read_form(request)
    ids: list[uuid.UUID] = []
    for raw in form.getall("item_id", []):
        parsed = parse_uuid(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise BadRequest("An item id in the form is not an id.")
        ids.append(parsed)
    try:
        await item_parts.set_bundle_items(request.app[SERVICES], item, ids)
    except ValidationFailed as problem:
        return await _item_page(request, creator, item, problem=problem)
    return redirect(f"{BASE}/items/{item.id}?saved=bundle")


async def save_tags(request: web.Request) -> web.Response:
    creator, item = await _item(request)
    form = await read_form(request)
    chosen, primary = _slugs(form, "tag"), field(form, "primary").strip() or None
    try:
        slugs, primary = tags.check_item_tags(chosen, primary)
        await tags.set_item_tags(request.app[SERVICES].pool, item.user_id, item.id, slugs, primary)
    except ValidationFailed as problem:
        return await _item_page(request, creator, item, problem=problem, chosen_tags=(set(chosen), primary))
    return redirect(f"{BASE}/items/{item.id}?saved=tags")


def setup(app: web.Application) -> None:
    add = app.router
    add.add_get(BASE, home_page)
    add.add_get(f"{BASE}/profile", profile_page)
    add.add_post(f"{BASE}/profile", changes_catalog(save_profile))
    add.add_post(f"{BASE}/profile/links", changes_catalog(add_link))
    add.add_post(f"{BASE}/profile/links/{{link_id}}/delete", changes_catalog(delete_link))
    add.add_get(f"{BASE}/projects/new", new_project_page)
    add.add_post(f"{BASE}/projects", changes_catalog(create_project))
    add.add_get(f"{BASE}/projects/{{project_id}}", project_page)
    add.add_post(f"{BASE}/projects/{{project_id}}", changes_catalog(save_project))
    add.add_post(f"{BASE}/projects/{{project_id}}/labels", changes_catalog(save_labels))
    add.add_get(f"{BASE}/projects/{{project_id}}/delete", confirm_delete_project)
    add.add_post(f"{BASE}/projects/{{project_id}}/delete", changes_catalog(delete_project))
    add.add_get(f"{BASE}/projects/{{project_id}}/items/new", new_item_page)
    add.add_post(f"{BASE}/projects/{{project_id}}/items", changes_catalog(create_item))
    add.add_get(f"{BASE}/items/{{item_id}}", item_page)
    add.add_post(f"{BASE}/items/{{item_id}}", changes_catalog(save_item))
    add.add_get(f"{BASE}/items/{{item_id}}/delete", confirm_delete_item)
    add.add_post(f"{BASE}/items/{{item_id}}/delete", changes_catalog(delete_item))
    add.add_post(f"{BASE}/items/{{item_id}}/versions", changes_catalog(upload_version))
    add.add_get(f"{BASE}/items/{{item_id}}/versions/{{version_id}}/delete", confirm_delete_version)
    add.add_post(f"{BASE}/items/{{item_id}}/versions/{{version_id}}/delete", changes_catalog(delete_version))
    add.add_post(f"{BASE}/items/{{item_id}}/chapters", changes_catalog(add_chapter))
    add.add_post(f"{BASE}/items/{{item_id}}/chapters/{{chapter_id}}/delete", changes_catalog(delete_chapter))
    add.add_post(f"{BASE}/items/{{item_id}}/sections", changes_catalog(add_section))
    add.add_post(f"{BASE}/items/{{item_id}}/sections/{{section_id}}/delete", changes_catalog(delete_section))
    add.add_post(f"{BASE}/items/{{item_id}}/bundle", changes_catalog(save_bundle))
    add.add_post(f"{BASE}/items/{{item_id}}/tags", changes_catalog(save_tags))
