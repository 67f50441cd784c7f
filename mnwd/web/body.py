"""Reading JSON request bodies into msgspec structs, with problem+json answers for bad input."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec
from aiohttp import web

from mnwd.errors import BadRequest, Problem, ValidationFailed

__all__ = ["read_json"]

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"


def _field(path: str) -> str:
    return path.lstrip(".") or "$"


async def read_json(request: web.Request, type_: type[T]) -> T:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as application/json (got {content_type or 'no Content-Type'}).")
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("The request body is empty; a JSON document was expected.", slug="malformed-json")
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        assert match is not None
        field = _field(match.group("path") or "")
        raise ValidationFailed(
            f"The request body is not valid: {exc}", errors=[{"field": field, "message": match.group("message")}]
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}", slug="malformed-json") from None
