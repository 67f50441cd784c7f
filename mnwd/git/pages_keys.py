"""Pages: SSH keys in account settings (``/settings/keys``): list with fingerprint and last use, add, delete."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.errors import Conflict, ValidationFailed
from mnwd.git import keys
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SAVED_MESSAGES = {"added": "The key was added.", "deleted": "The key was deleted. It no longer opens anything."}


def _context(request: web.Request, found: list[keys.SshKey], **extra: object) -> dict[str, object]:
    config = request.app[SERVICES].config
    return {
        "keys": found,
        "title": "",
        "public_key": "",
        "ssh_host": request.url.host or "localhost",
        "ssh_port": config.ssh_port,
        "saved": SAVED_MESSAGES.get(request.query.get("saved", "")),
        **extra,
    }


async def keys_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    found = await keys.list_keys(request.app[SERVICES], viewer.user_id)
    return await render(request, "git/keys.html", _context(request, found))


async def add_key(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    form = await read_form(request)
    title = field(form, "title", max_chars=keys.MAX_TITLE_CHARS)
    public_key = field(form, "public_key", max_chars=keys.MAX_KEY_CHARS)
    try:
        await keys.add_key(services, viewer.user_id, public_key, title)
    except (ValidationFailed, Conflict) as problem:
        found = await keys.list_keys(services, viewer.user_id)
        context = _context(request, found, title=title, public_key=public_key, saved=None)
        return await render_problem(request, "git/keys.html", problem, context)
    return redirect("/settings/keys?saved=added")


async def delete_key(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    key_id = uuid_param(request, "key_id", keys.NO_SUCH_KEY)
    await keys.delete_key(request.app[SERVICES], viewer.user_id, key_id)
    return redirect("/settings/keys?saved=deleted")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/keys", keys_page)
    app.router.add_post("/settings/keys", add_key)
    app.router.add_post("/settings/keys/{key_id}/delete", delete_key)
