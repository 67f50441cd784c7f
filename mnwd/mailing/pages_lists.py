"""The creator's pages for mailing lists, under ``/dashboard/lists``: lists per project (create, rename,
delete), a list's subscribers (counts, status, add and remove by hand), the signup snippet to embed, imports
(upload, preview and column mapping, start, progress) and broadcasts (write, preview, test, send or schedule,
progress and counts).

Every page needs the signed-in creator of the project; another creator's list, import or broadcast is "not
found". Forms carry the CSRF token; a form with mistakes comes back with them shown (422) and nothing written.
The import upload is ``multipart/form-data`` read here (the middleware would read it whole to find the
token): it must come from this site, be at most `imports.MAX_UPLOAD_BYTES`, and carry the token as its
first part.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from markupsafe import escape

from mnwd.accounts import Viewer, require_viewer
from mnwd.errors import BadRequest, PayloadTooLarge, Problem, ValidationFailed
from mnwd.mailing import broadcasts, imports, lists
from mnwd.web.csrf import CSRF_FIELD, CsrfFailed, csrf_exempt, csrf_valid, from_another_site
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.markdown import render_markdown
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["page_context", "setup"]

BASE = "/dashboard/lists"
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 16 * 1024
NO_SUCH_SUBSCRIBER = "There is no such subscriber."
SAVED = {
    "list": "The list was saved.",
    "list-deleted": "The list was deleted.",
    "added": "The address was added.",
    "known": "That address is on the list already.",
    "removed": "The subscriber was removed.",
    "import-started": "The import runs in the background; this page shows how far it is.",
    "import-canceled": "The import was canceled; nothing was imported.",
    "mapping": "The columns were saved; the counts below are computed again.",
    "saved": "The mail was saved.",
    "test": "A test was sent to your address.",
    "sending": "The broadcast is being sent.",
    "scheduled": "The broadcast is scheduled.",
    "unscheduled": "The broadcast is a draft again.",
}


def _saved(request: web.Request) -> str | None:
    return SAVED.get(request.query.get("saved", ""))


async def _owner(request: web.Request) -> Viewer:
    return await require_viewer(request)


# --- lists ----------------------------------------------------------------------------------------------------


async def dashboard(request: web.Request, problem: Problem | None = None, form: Any = None) -> web.Response:
    viewer = await _owner(request)
    context = {
        "projects": await lists.projects_with_lists(request.app[SERVICES], viewer.user_id),
        "list_types": lists.LIST_TYPES,
        "saved": _saved(request),
        "form": form or {},
    }
    if problem is not None:
        return await render_problem(request, "mailing/dashboard.html", problem, context)
    return await render(request, "mailing/dashboard.html", context)


async def create_list(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    project_id = uuid_param(request, "project_id", lists.NO_SUCH_PROJECT)
    form = await read_form(request)
    list_type = field(form, "list_type") or None
    try:
        list_id = await lists.create_list(
            request.app[SERVICES], viewer.user_id, project_id, field(form, "name"), list_type
        )
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        return await dashboard(request, problem, {"name": field(form, "name")})
    return redirect(f"{BASE}/{list_id}?saved=list")


async def _list_context(request: web.Request, list_id: uuid.UUID, viewer: Viewer) -> dict[str, Any]:
    services = request.app[SERVICES]
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    counts, subscribers = await lists.subscribers_page(services, viewer.user_id, list_id, page)
    found = await lists.require_owned_list(services.pool, viewer.user_id, list_id)
    base = services.config.base_url.rstrip("/")
    return {
        "list": found,
        "counts": counts,
        "subscribers": subscribers,
        "page": page,
        "imports": await imports.imports_of_list(services, viewer.user_id, list_id),
        "broadcasts": await broadcasts.broadcasts_of_list(services, viewer.user_id, list_id),
        "snippet": _snippet(base, list_id, found["project_title"]),
        "signup_url": f"{base}/lists/{list_id}/subscribe",
        "sources": imports.SOURCES,
        "saved": _saved(request),
        "form": {},
    }


def _snippet(base: str, list_id: uuid.UUID, title: str) -> str:
    return (
        f'<form method="post" action="{base}/lists/{list_id}/subscribe">\n'
        f'  <label>Get mail from {escape(title)}: <input type="email" name="email" required></label>\n'
        '  <button type="submit">Subscribe</button>\n'
        "</form>"
    )


async def list_page(request: web.Request, problem: Problem | None = None, form: Any = None) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    context = await _list_context(request, list_id, viewer)
    if form is not None:
        context["form"] = form
    if problem is not None:
        return await render_problem(request, "mailing/list.html", problem, context)
    return await render(request, "mailing/list.html", context)


async def rename_list(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    form = await read_form(request)
    try:
        await lists.rename_list(request.app[SERVICES], viewer.user_id, list_id, field(form, "name"))
    except ValidationFailed as problem:
        return await list_page(request, problem)
    return redirect(f"{BASE}/{list_id}?saved=list")


async def confirm_delete_list(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    found = await lists.require_owned_list(request.app[SERVICES].pool, viewer.user_id, list_id)
    return await render_confirmation(
        request,
        Confirmation(
            title="Delete the list",
            question=f"Delete the list {found['name']}?",
            consequence="Its subscribers, imports and broadcasts are deleted with it. This cannot be undone.",
            button="Delete the list",
            cancel=f"{BASE}/{list_id}",
        ),
    )


async def delete_list(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    await lists.delete_list(request.app[SERVICES], viewer.user_id, list_id)
    return redirect(f"{BASE}?saved=list-deleted")


async def add_subscriber(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    form = await read_form(request)
    try:
        added = await lists.add_subscriber(
            request.app[SERVICES], viewer.user_id, list_id, field(form, "email"), field(form, "name")
        )
    except ValidationFailed as problem:
        return await list_page(request, problem, {"email": field(form, "email"), "name": field(form, "name")})
    return redirect(f"{BASE}/{list_id}?saved={'added' if added else 'known'}")


async def remove_subscriber(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    subscriber_id = uuid_param(request, "subscriber_id", NO_SUCH_SUBSCRIBER)
    await lists.remove_subscriber(request.app[SERVICES], viewer.user_id, list_id, subscriber_id)
    return redirect(f"{BASE}/{list_id}?saved=removed")


# --- imports --------------------------------------------------------------------------------------------------


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(16 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise PayloadTooLarge("A form field is too long.", limit=MAX_FIELD_BYTES)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise BadRequest("A form field is not UTF-8 text.") from None


async def _file(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        data += chunk
        if len(data) > imports.MAX_UPLOAD_BYTES:
            raise PayloadTooLarge("The file is too large to import.", limit=imports.MAX_UPLOAD_BYTES)
    return bytes(data)


@csrf_exempt
async def upload_import(request: web.Request) -> web.Response:
    if from_another_site(request):
        raise CsrfFailed()
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    await lists.require_owned_list(request.app[SERVICES].pool, viewer.user_id, list_id)
    if request.content_length is not None and request.content_length > imports.MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
        raise PayloadTooLarge("The file is too large to import.", limit=imports.MAX_UPLOAD_BYTES)
    if request.content_type != "multipart/form-data":
        raise BadRequest("Send the import form as multipart/form-data.")
    reader = await request.multipart()
    part = await reader.next()
    if (
        not isinstance(part, BodyPartReader)
        or part.name != CSRF_FIELD
        or not csrf_valid(request, await _small_field(part))
    ):
        raise CsrfFailed()
    fields: dict[str, str] = {}
    data: bytes | None = None
    file_name = ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("Nested multipart bodies are not accepted.")
        if part.name == "file":
            file_name = part.filename or ""
            data = await _file(part)
        else:
            fields[str(part.name)] = await _small_field(part)
    try:
        if data is None or not data.strip():
            raise imports.InvalidCsv("Choose a CSV file to upload; this one is empty.")
        import_id = await imports.upload_import(
            request.app[SERVICES], viewer.user_id, list_id, fields.get("source", ""), file_name, data
        )
    except ValidationFailed as problem:
        return await list_page(request, problem, {"source": fields.get("source", "")})
    return redirect(f"{BASE}/imports/{import_id}")


async def import_page(request: web.Request, problem: Problem | None = None) -> web.Response:
    viewer = await _owner(request)
    import_id = uuid_param(request, "import_id", imports.NO_SUCH_IMPORT)
    services = request.app[SERVICES]
    found = await imports.get_import(services, viewer.user_id, import_id)
    the_list = await lists.require_owned_list(services.pool, viewer.user_id, found["list_id"])
    context = {"import": found, "list": the_list, "preview": found["preview"], "saved": _saved(request)}
    if problem is not None:
        return await render_problem(request, "mailing/import.html", problem, context)
    return await render(request, "mailing/import.html", context)


async def map_import(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    import_id = uuid_param(request, "import_id", imports.NO_SUCH_IMPORT)
    form = await read_form(request)
    chosen = {role: field(form, role) for role in ("email", "name", "do_not_contact", "status", "time") if role in form}
    try:
        await imports.remap_import(request.app[SERVICES], viewer.user_id, import_id, chosen)
    except ValidationFailed as problem:
        return await import_page(request, problem)
    return redirect(f"{BASE}/imports/{import_id}?saved=mapping")


async def start_import(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    import_id = uuid_param(request, "import_id", imports.NO_SUCH_IMPORT)
    try:
        await imports.start_import(request.app[SERVICES], viewer.user_id, import_id)
    except ValidationFailed as problem:
        return await import_page(request, problem)
    return redirect(f"{BASE}/imports/{import_id}?saved=import-started")


async def cancel_import(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    import_id = uuid_param(request, "import_id", imports.NO_SUCH_IMPORT)
    await imports.cancel_import(request.app[SERVICES], viewer.user_id, import_id)
    return redirect(f"{BASE}/imports/{import_id}?saved=import-canceled")


# --- broadcasts -----------------------------------------------------------------------------------------------


async def create_broadcast(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    list_id = uuid_param(request, "list_id", lists.NO_SUCH_LIST)
    form = await read_form(request)
    subject, body = field(form, "subject"), field(form, "body", max_chars=broadcasts.MAX_BODY_CHARS)
    try:
        broadcast_id = await broadcasts.create_broadcast(request.app[SERVICES], viewer.user_id, list_id, subject, body)
    except ValidationFailed as problem:
        return await list_page(request, problem, {"subject": subject, "body": body})
    return redirect(f"{BASE}/broadcasts/{broadcast_id}?saved=saved")


async def broadcast_page(
    request: web.Request, problem: Problem | None = None, form: dict[str, str] | None = None
) -> web.Response:
    viewer = await _owner(request)
    broadcast_id = uuid_param(request, "broadcast_id", broadcasts.NO_SUCH_BROADCAST)
    services = request.app[SERVICES]
    found = await broadcasts.require_owned_broadcast(services, viewer.user_id, broadcast_id)
    context = {
        "broadcast": found,
        "preview": render_markdown(found["body_markdown"]),
        "stats": await broadcasts.broadcast_stats(services, found),
        "form": form or {"subject": found["subject"], "body": found["body_markdown"]},
        "saved": _saved(request),
    }
    if problem is not None:
        return await render_problem(request, "mailing/broadcast.html", problem, context)
    return await render(request, "mailing/broadcast.html", context)


async def broadcast_action(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    broadcast_id = uuid_param(request, "broadcast_id", broadcasts.NO_SUCH_BROADCAST)
    services = request.app[SERVICES]
    form = await read_form(request)
    action = field(form, "action")
    subject, body = field(form, "subject"), field(form, "body", max_chars=broadcasts.MAX_BODY_CHARS)
    try:
        if action == "save":
            await broadcasts.edit_broadcast(services, viewer.user_id, broadcast_id, subject, body)
            saved = "saved"
        elif action == "test":
            await broadcasts.send_test(services, viewer.user_id, broadcast_id)
            saved = "test"
        elif action == "send":
            await broadcasts.send_broadcast(services, viewer.user_id, broadcast_id)
            saved = "sending"
        elif action == "schedule":
            at = _parse_time(field(form, "scheduled_at"))
            await broadcasts.send_broadcast(services, viewer.user_id, broadcast_id, at=at)
            saved = "scheduled"
        elif action == "unschedule":
            await broadcasts.unschedule_broadcast(services, viewer.user_id, broadcast_id)
            saved = "unscheduled"
        else:
            raise BadRequest("Unknown action.")
    except ValidationFailed as problem:
        return await broadcast_page(request, problem, {"subject": subject, "body": body})
    return redirect(f"{BASE}/broadcasts/{broadcast_id}?saved={saved}")


def _parse_time(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(
            "That is not a time.", errors=[{"field": "scheduled_at", "message": "Give a date and time (UTC)."}]
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


async def page_context(request: web.Request) -> dict[str, Any]:
    """What every page knows: ``mailing_signup_lists(project_id)``, the lists a project's page offers (read
    only when a page calls it: the store's project page)."""
    services = request.app[SERVICES]

    async def signup_lists(project_id: uuid.UUID) -> list[Any]:
        return await lists.signup_lists(services, project_id)

    return {"mailing_signup_lists": signup_lists}


def setup(app: web.Application) -> None:
    add = app.router
    add.add_get(BASE, dashboard)
    add.add_post("/dashboard/projects/{project_id}/lists", create_list)
    add.add_get(BASE + "/imports/{import_id}", import_page)
    add.add_post(BASE + "/imports/{import_id}/mapping", map_import)
    add.add_post(BASE + "/imports/{import_id}/start", start_import)
    add.add_post(BASE + "/imports/{import_id}/cancel", cancel_import)
    add.add_get(BASE + "/broadcasts/{broadcast_id}", broadcast_page)
    add.add_post(BASE + "/broadcasts/{broadcast_id}", broadcast_action)
    add.add_get(BASE + "/{list_id}", list_page)
    add.add_post(BASE + "/{list_id}", rename_list)
    add.add_get(BASE + "/{list_id}/delete", confirm_delete_list)
    add.add_post(BASE + "/{list_id}/delete", delete_list)
    add.add_post(BASE + "/{list_id}/subscribers", add_subscriber)
    add.add_post(BASE + "/{list_id}/subscribers/{subscriber_id}/delete", remove_subscriber)
    add.add_post(BASE + "/{list_id}/imports", upload_import)
    add.add_post(BASE + "/{list_id}/broadcasts", create_broadcast)
