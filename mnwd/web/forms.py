"""Reading HTML form posts, and showing a form again with what was wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from mnwd.errors import Problem
from mnwd.web.pages import render

__all__ = ["Form", "checkbox", "field", "read_form", "render_problem"]

Form = MultiDictProxy[str | Any]
MAX_FIELD_CHARS = 4096


async def read_form(request: web.Request) -> Form:
    return await request.post()


def field(form: Form | Mapping[str, Any], name: str, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """A text field, '' when missing; longer than ``max_chars`` is cut (validators then refuse it)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value[: max_chars + 1]


def checkbox(form: Form, name: str) -> bool:
    return form.get(name) in {"on", "1", "true", "yes"}


async def render_problem(
    request: web.Request, template: str, problem: Problem, context: Mapping[str, Any] | None = None
) -> web.Response:
    """Render a form page again with the problem's message (and per-field errors) shown on it."""
    errors = {e["field"]: e["message"] for e in problem.extra.get("errors", [])}
    response = await render(
        request, template, {**(context or {}), "error": problem.detail, "field_errors": errors}, status=problem.status
    )
    response.headers.update(problem.headers)
    return response
