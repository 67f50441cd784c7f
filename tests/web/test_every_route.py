"""Every route of the application, called with bad input by someone not signed in: never a 500, and every
error is application/problem+json (the OAuth token endpoints answer RFC 6749's JSON error instead)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.app import build_app, route_table
from tests.support import forkserver

OAUTH_JSON_ERRORS = {"/oauth/token", "/oauth/revoke", "/oauth/introspect"}
BAD_PARAMETER = "..%2F..%2Fetc%2Fpasswd"
BAD_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b'{"device_name": '),
    ("application/json", b"[" * 5000 + b"]" * 5000),
    ("application/json", b'{"x": "\\u0000"}'),
    ("application/x-www-form-urlencoded", b"a=%ZZ&\x00=1"),
    ("text/plain", b"\xff\xfe not utf-8"),
]


def _routes() -> list[tuple[str, str, str]]:
    """(method, path, handler) of every route but static files and the HEAD twins of GETs."""
    found = {
        (m, p, h) for m, p, h in route_table(build_app()) if m not in {"HEAD", "*"} and not p.startswith("/static")
    }
    return sorted(found)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", BAD_PARAMETER, path)


def test_the_walk_covers_the_api_and_the_pages() -> None:
    paths = {path for _method, path, _handler in _routes()}
    assert {"/sync/v1/push", "/oauth/token", "/login", "/dashboard/apps/{app_id}"} <= paths


@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES, ids=["truncated", "deep", "nul", "form", "binary"])
async def test_bad_input_gets_a_clear_4xx(
    client: TestClient[Any, web.Application], content_type: str, body: bytes
) -> None:
    """Pages (handlers in ``pages*`` modules) may answer a form's error as the HTML page it belongs on."""
    headers = {"Accept": "application/json", "Content-Type": content_type, "Authorization": "Bearer nope"}
    wrong = []
    for method, path, handler in _routes():
        data = body if method not in {"GET", "DELETE"} else None
        response = await client.request(method, _concrete(path), data=data, headers=headers, allow_redirects=False)
        text = await response.text()
        if response.status >= 500:
            wrong.append(f"{method} {path}: {response.status} {text[:200]}")
        elif response.status >= 400:
            allowed = {"application/json"} if path in OAUTH_JSON_ERRORS else {"application/problem+json"}
            if ".pages" in handler:
                allowed.add("text/html")
            if response.content_type not in allowed:
                wrong.append(f"{method} {path}: {response.status} {response.content_type} {text[:200]}")
    assert wrong == []


def test_mnwd_routes_prints_the_route_table() -> None:
    import sys

    result = forkserver.run(
        [sys.executable, "-m", "mnwd", "routes"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["POST", "/sync/v1/push", "mnwd.sync.change_routes.push"] in lines
    assert ["GET", "/dashboard/apps/{app_id}", "mnwd.apps.pages.app_page"] in lines
    assert len(lines) == len(route_table(build_app()))
