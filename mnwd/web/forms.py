"""Reading HTML form posts, and showing a form again with what was wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from mnwd.errors import Problem
from mnwd.web.pages import render

__all__ = ["Form", "RepeatedField", "checkbox", "field", "read_form", "read_single_valued_form", "render_problem"]

Form = MultiDictProxy[str | Any]
MAX_FIELD_CHARS = 4096


async def read_form(request: web.Request) -> Form:
    return await request.post()


class RepeatedField(ValueError):
    """A form gave one parameter twice where protocols (OAuth, RFC 6749 §3.1) allow it once."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The parameter {name} is given more than once.")
        self.name = name


async def read_single_valued_form(request: web.Request) -> dict[str, str]:
    """The text fields of a form post, each given at most once (`RepeatedField` otherwise); files dropped."""
    posted = await read_form(request)
    form: dict[str, str] = {}
    for key in set(posted.keys()):
        values = posted.getall(key)
        if len(values) > 1:
            raise RepeatedField(key)
        if isinstance(values[0], str):
            form[key] = values[0]
    return form


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
