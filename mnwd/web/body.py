"""JSON in and out: request bodies decoded into msgspec structs (problem+json answers for bad input), and
`json_response`, the one way a handler answers with JSON (msgspec encodes structs, dicts, UUIDs, times)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from mnwd.errors import BadRequest, PayloadTooLarge, Problem, ValidationFailed

__all__ = ["json_response", "read_json"]

T = TypeVar("T")
JSON = "application/json"

_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"


# A decoder per body type (a handful, fixed by the code): made once, not on every request.
_DECODERS: dict[object, msgspec.json.Decoder[Any]] = {}


def _decode(raw: bytes, type_: type[T]) -> T:
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    value: T = decoder.decode(raw)
    return value


def _field(path: str) -> str:
    return path.lstrip(".") or "$"


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, up to ``limit`` bytes (413 beyond), whatever the app-wide ``client_max_size``."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.", limit=limit)
        return await request.content.read()  # the parser stops at Content-Length: no more than that comes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, type_: type[T], *, max_bytes: int | None = None) -> T:
    """Decode the JSON body into ``type_``; ``max_bytes`` replaces the app-wide body limit for this request."""
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as application/json (got {content_type or 'no Content-Type'}).")
    raw = await (read_limited(request, max_bytes) if max_bytes is not None else request.read())
    if not raw or raw.isspace():
        raise BadRequest("The request body is empty; a JSON document was expected.", slug="malformed-json")
    try:
        return _decode(raw, type_)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        assert match is not None
        field = _field(match.group("path") or "")
        raise ValidationFailed(
            f"The request body is not valid: {exc}", errors=[{"field": field, "message": match.group("message")}]
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}", slug="malformed-json") from None
    except RecursionError:
        # msgspec decodes free-form values (``Any``, ``dict[str, Any]``) recursively: thousands of nested
        # arrays or objects run out of stack. No document of ours nests anywhere near that deep.
        raise BadRequest("The request body nests arrays or objects too deeply.", slug="malformed-json") from None


def json_response(
    value: object, *, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = JSON
) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type=content_type, headers=headers)
