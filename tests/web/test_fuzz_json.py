"""Every route that takes a body, sent hostile JSON by a signed-in browser and by a signed-in sync device:
deep nesting, huge integers, date-times outside PostgreSQL's range. Never a 500: a clear 4xx, or the
mutation rejected on its own."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.app import build_app, route_table
from tests.support.accounts import sign_in
from tests.support.browser import Browser
from tests.sync.streams import SyncApi

DEPTH = 10_000
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
HUGE = [b"9223372036854775808", b"18446744073709551616", b"-9223372036854775809", b"1" + b"0" * 400, b"1e400"]
DATES = [b'"0001-01-01T00:00:00+14:00"', b'"9999-12-31T23:59:59-14:00"', b'"0000-00-00T00:00:00Z"']


def _payloads(api: SyncApi) -> list[Callable[[], bytes]]:
    """Bodies made when sent: a push takes the device's next mutation_id, unless it tries a huge one."""
    device = f'"{api.device_id}"'.encode()

    def push(
        mutation_id: bytes | None = None, data: bytes = b'{"v": 1}', stamp: bytes = b"null"
    ) -> Callable[[], bytes]:
        def make() -> bytes:
            number = mutation_id or str(api.next_mutation).encode()
            mutation = b'{"mutation_id": %s, "table": "notes", "op": "UPDATE", "row_id": "r", "data": %s, ' % (
                number,
                data,
            )
            return b'{"device_id": %s, "mutations": [%s"client_timestamp": %s}]}' % (device, mutation, stamp)

        return make

    def fixed(body: bytes) -> Callable[[], bytes]:
        return lambda: body

    bodies = [fixed(DEEP_OBJECT), fixed(DEEP_ARRAY)]
    for deep in (DEEP_OBJECT, DEEP_ARRAY):
        bodies += [
            fixed(b'{"credential": %s}' % deep),
            fixed(b'{"credential": {"response": %s}}' % deep),
            fixed(b'{"name": "x", "credential": {"id": "x", "a": %s}}' % deep),
            fixed(b'{"device_name": %s}' % deep),
            fixed(b'{"encrypted_key": %s, "key_version": 1, "expected_version": null}' % deep),
            push(data=b'{"a": %s}' % deep),
        ]
    for number in HUGE:
        bodies += [
            push(mutation_id=number),
            push(data=b'{"n": %s}' % number),
            fixed(b'{"key_version": %s, "expected_version": %s, "encrypted_key": "k"}' % (number, number)),
            fixed(b'{"credential": {"n": %s}}' % number),
        ]
    bodies += [push(stamp=date) for date in DATES]
    # Just below the decoder's limit, with an exponent (the push measures numbers with a second parser).
    for depth in (500, 900, 950, 990, 1000, 2000):
        bodies.append(push(data=b'{"a":' * depth + b"1e5" + b"}" * depth))
        bodies.append(push(data=b'{"a":' + b"[" * depth + b"1e5" + b"]" * depth + b"}"))
    return bodies


ENDING = re.compile(r"logout|delete|revoke|deactivate")


def _body_routes() -> list[tuple[str, str]]:
    """Routes that take a body; those that could sign alice out or revoke her device come last."""
    found = {(m, p) for m, p, _h in route_table(build_app()) if m in {"POST", "PUT", "PATCH", "DELETE"}}
    return sorted(found, key=lambda route: (route[0] == "DELETE" or bool(ENDING.search(route[1])), route))


def test_the_walk_covers_every_json_endpoint() -> None:
    routes = _body_routes()
    for expected in ["/sync/v1/push", "/sync/v1/devices", "/login/passkey"]:
        assert any(path == expected for _m, path in routes), expected
    assert any(path.startswith("/settings/passkeys") for _m, path in routes)


@pytest.fixture
async def signed_in(alice_api: SyncApi, aiohttp_client: Any) -> tuple[Browser, str]:
    """alice's browser (session cookie, CSRF token) beside her sync device."""
    browser = Browser(await aiohttp_client(alice_api.client.server))
    await sign_in(browser, "alice")
    page = await browser.get("/settings")
    return browser, page.csrf


async def test_hostile_json_never_gets_a_500(alice_api: SyncApi, signed_in: tuple[Browser, str]) -> None:
    browser, csrf = signed_in
    assert alice_api.device_id is not None
    callers: list[tuple[str, TestClient[Any, web.Application], dict[str, str]]] = [
        ("device", alice_api.client, {**alice_api.headers}),
        ("browser", browser.client, {**browser.headers, "X-CSRF-Token": csrf, "Accept": "application/json"}),
    ]
    wrong = []
    sent = 0
    for method, pattern in _body_routes():
        path = re.sub(r"\{[^}]+\}", alice_api.device_id, pattern)
        for who, client, headers in callers:
            for make in _payloads(alice_api):
                body = make()
                response = await client.request(
                    method,
                    path,
                    data=body,
                    headers={**headers, "Content-Type": "application/json"},
                    allow_redirects=False,
                )
                sent += 1
                text = await response.text() if response.status >= 500 else ""
                # Payments are off in this daemon: a route that needs them says so (an answer, not a fault).
                if response.status >= 500 and not (response.status == 503 and "payments-not-configured" in text):
                    wrong.append(f"{who} {method} {path} {body[:80]!r}: {response.status} {text[:200]}")
                else:
                    await response.read()
                if response.status == 200 and path == "/sync/v1/push":
                    alice_api.next_mutation += 1
    assert sent > 500
    assert wrong == []
