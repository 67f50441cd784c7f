"""Server-rendered pages: Jinja setup, the common context, redirects and HTML error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup

__all__ = [
    "Confirmation",
    "ContextProcessor",
    "has_control_character",
    "login_redirect",
    "redirect",
    "render",
    "render_confirmation",
    "render_fragment",
    "safe_next",
    "setup_pages",
    "wants_html",
]

WEB_DIR = Path(__file__).resolve().parent
ContextProcessor = Callable[[web.Request], Awaitable[dict[str, Any]]]
TEMPLATES = web.AppKey("templates", jinja2.Environment)
PROCESSORS = web.AppKey("page_context", list[ContextProcessor])


def setup_pages(app: web.Application, template_dirs: Iterable[Path], processors: list[ContextProcessor]) -> None:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([WEB_DIR / "templates", *template_dirs]),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        enable_async=True,
    )
    static = app.router.add_static("/static", WEB_DIR / "static", name="static", append_version=True)
    env.globals["static_url"] = lambda name: str(static.url_for(filename=name))
    app[TEMPLATES] = env
    app[PROCESSORS] = processors


async def render_fragment(request: web.Request, template: str, context: Mapping[str, Any] | None = None) -> Markup:
    """A template rendered with the common context, as HTML to place inside another page."""
    merged: dict[str, Any] = {"request": request}
    for processor in request.app[PROCESSORS]:
        merged.update(await processor(request))
    merged.update(context or {})
    return Markup(await request.app[TEMPLATES].get_template(template).render_async(merged))


async def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    html = await render_fragment(request, template, context)
    return web.Response(text=str(html), status=status, content_type="text/html")


def redirect(location: str) -> web.Response:
    """303 See Other: after a form post the browser fetches ``location`` with GET."""
    return web.Response(status=303, headers={"Location": location})


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    """To the sign-in page, coming back here afterwards (a form post comes back to the page, by GET)."""
    target = request.path_qs if request.method == "GET" else request.path
    return web.HTTPSeeOther(f"/login?next={quote(target, safe='/')}")


def safe_next(raw: str | None, default: str = "/") -> str:
    """A local path to go to after signing in; anything pointing off-site, or holding a control character
    (which a browser may drop, turning ``/<TAB>/evil.example`` into ``//evil.example``, and which cannot go in a
    ``Location`` header), becomes ``default``."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or has_control_character(raw):
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return default
    return raw


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL, none of which belong in a URL."""
    return any(c < " " or c == "\x7f" for c in text)


def wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept.split("text/html")[0]


async def render_error_page(
    request: web.Request, doc: dict[str, object], headers: dict[str, str] | None
) -> web.Response:
    status = doc["status"]
    assert isinstance(status, int)
    response = await render(request, "error.html", {"problem": doc}, status=status)
    if headers:
        response.headers.update(headers)
    return response


@dataclass(frozen=True)
class Confirmation:
    """The page asked before a step that cannot be undone: ``GET`` of the step's own path shows it, and its
    one form posts to that path. Buttons elsewhere link to it, so the step always takes two clicks, with or
    without JavaScript."""

    title: str
    question: str
    consequence: str
    button: str
    cancel: str
    danger: bool = True


async def render_confirmation(request: web.Request, confirmation: Confirmation) -> web.Response:
    return await render(request, "confirm.html", {"confirmation": confirmation, "action": request.path})
