"""Page: confirm it is you (``/settings/confirm?next=``), asked by `reauth.require_recent_auth`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mnwd.accounts import reauth
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS
from mnwd.accounts.sessions import Viewer, require_viewer
from mnwd.errors import TooManyRequests, ValidationFailed
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render, safe_next

__all__ = ["setup"]

PAGE = "accounts/confirm.html"
DEFAULT_NEXT = "/settings"


async def _context(request: web.Request, viewer: Viewer, next_url: str) -> dict[str, Any]:
    return {"next": next_url, "has_passkeys": await reauth.has_passkeys(request.app[SERVICES], viewer)}


async def confirm_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    next_url = safe_next(request.query.get("next"), DEFAULT_NEXT)
    return await render(request, PAGE, await _context(request, viewer, next_url))


async def confirm(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    next_url = safe_next(field(form, "next"), DEFAULT_NEXT)
    try:
        await reauth.confirm_identity(
            request.app[SERVICES],
            viewer,
            password=field(form, "password", max_chars=MAX_PASSWORD_CHARS),
            code=field(form, "code", max_chars=64),
        )
    except (ValidationFailed, TooManyRequests) as problem:
        return await render_problem(request, PAGE, problem, await _context(request, viewer, next_url))
    return redirect(next_url)


def setup(app: web.Application) -> None:
    app.router.add_get(reauth.CONFIRM_PATH, confirm_page)
    app.router.add_post(reauth.CONFIRM_PATH, confirm)
