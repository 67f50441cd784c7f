from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.app import create_app
from mnwd.db.migrations import Migration
from mnwd.errors import NotFound
from mnwd.services import Services
from mnwd.web.body import read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]  # type: ignore[type-arg]
PROBLEM = "application/problem+json"


def assert_problem(doc: dict[str, Any], status: int, slug: str) -> None:
    assert doc["status"] == status
    assert doc["type"] == f"https://mnwd.dev/problems/{slug}"
    assert isinstance(doc["title"], str)
    assert doc["title"]
    assert isinstance(doc["detail"], str)
    assert doc["detail"]


class Note(msgspec.Struct):
    title: str
    stars: int


async def echo_note(request: web.Request) -> web.Response:
    note = await read_json(request, Note)
    return web.json_response({"title": note.title, "stars": note.stars})


async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


async def store_text(request: web.Request) -> web.Response:
    """Hands the query string's ``text`` to PostgreSQL unchecked, as a handler that forgot a check would."""
    text = request.query.get("text", "")
    stored = await request.app[SERVICES].pool.fetchval("SELECT $1::text || to_jsonb($2::text)::text", text, text)
    return web.json_response({"stored": stored})


async def missing_thing(request: web.Request) -> web.Response:
    raise NotFound("No repository named x.", repo="x")


@pytest.fixture
async def app_client(services: Services, aiohttp_client: ClientFactory) -> TestClient:  # type: ignore[type-arg]
    app = create_app(services)
    app.router.add_post("/test/notes", csrf_exempt(echo_note))  # a JSON API, like /sync/v1
    app.router.add_get("/test/explode", explode)
    app.router.add_get("/test/missing", missing_thing)
    app.router.add_get("/test/store", store_text)
    return await aiohttp_client(app)


async def test_healthz_answers_with_a_request_id(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert len(response.headers["X-Request-Id"]) == 32


async def test_a_valid_incoming_request_id_is_kept(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/healthz", headers={"X-Request-Id": "edge-42"})
    assert response.headers["X-Request-Id"] == "edge-42"
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["X-Request-Id"] != "bad id\twith spaces"


async def test_readyz_reports_database_and_migrations(client: TestClient, services: Services) -> None:  # type: ignore[type-arg]
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ready", "database": "ok", "migrations": len(services.migrations)}


async def test_readyz_is_unavailable_while_a_migration_is_pending(
    services: Services,
    aiohttp_client: ClientFactory,
) -> None:
    ahead = dataclasses.replace(
        services, migrations=[*services.migrations, Migration(9999, "future", "SELECT 1", "0" * 64)]
    )
    client = await aiohttp_client(create_app(ahead))
    response = await client.get("/readyz")
    assert response.status == 503
    assert response.content_type == PROBLEM
    doc = await response.json()
    assert_problem(doc, 503, "unavailable")
    assert doc["pending"] == ["9999_future.sql"]


async def test_readyz_is_unavailable_while_a_function_file_is_pending(
    services: Services,
    aiohttp_client: ClientFactory,
) -> None:
    edited = dataclasses.replace(services.functions[0], checksum="0" * 64)
    ahead = dataclasses.replace(services, functions=[edited, *services.functions[1:]])
    client = await aiohttp_client(create_app(ahead))
    response = await client.get("/readyz")
    assert response.status == 503
    doc = await response.json()
    assert_problem(doc, 503, "unavailable")
    assert doc["migrations"] == "pending"
    assert doc["pending_functions"] == [edited.filename]


async def test_readyz_is_unavailable_when_the_database_is_down(
    services: Services, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(services))
    await services.pool.close()
    response = await client.get("/readyz")
    assert response.status == 503
    assert_problem(await response.json(), 503, "unavailable")


async def test_unknown_path_is_a_problem(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert response.content_type == PROBLEM
    doc = await response.json()
    assert_problem(doc, 404, "not-found")
    assert doc["instance"] == "/no/such/page"


async def test_wrong_method_is_a_problem_with_allow(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/healthz")
    assert response.status == 405
    assert response.content_type == PROBLEM
    assert "GET" in response.headers["Allow"]
    doc = await response.json()
    assert_problem(doc, 405, "method-not-allowed")
    assert "POST is not allowed here" in doc["detail"]


async def test_domain_problem_carries_extra_fields(app_client: TestClient) -> None:  # type: ignore[type-arg]
    response = await app_client.get("/test/missing")
    assert response.status == 404
    doc = await response.json()
    assert_problem(doc, 404, "not-found")
    assert doc["detail"] == "No repository named x."
    assert doc["repo"] == "x"


async def test_valid_json_body_is_parsed(app_client: TestClient) -> None:  # type: ignore[type-arg]
    response = await app_client.post("/test/notes", json={"title": "hi", "stars": 3})
    assert response.status == 200
    assert await response.json() == {"title": "hi", "stars": 3}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "slug"),
    [
        (b'{"title": "hi", ', "application/json", 400, "malformed-json"),
        (b"", "application/json", 400, "malformed-json"),
        (b"\xff\xfe", "application/json", 400, "malformed-json"),
        (b'{"title": "hi", "stars": "three"}', "application/json", 422, "validation-failed"),
        (b'{"title": "hi"}', "application/json", 422, "validation-failed"),
        (b"[1, 2]", "application/json", 422, "validation-failed"),
        (b'{"title": "hi", "stars": 3}', "text/plain", 415, "unsupported-media-type"),
    ],
)
async def test_bad_json_bodies_are_problems(
    app_client: TestClient,  # type: ignore[type-arg]
    body: bytes,
    content_type: str,
    status: int,
    slug: str,
) -> None:
    response = await app_client.post("/test/notes", data=body, headers={"Content-Type": content_type})
    assert response.status == status
    assert response.content_type == PROBLEM
    assert_problem(await response.json(), status, slug)


async def test_validation_errors_name_the_field(app_client: TestClient) -> None:  # type: ignore[type-arg]
    response = await app_client.post("/test/notes", json={"title": "hi", "stars": "three"})
    doc = await response.json()
    assert doc["errors"] == [{"field": "stars", "message": "Expected `int`, got `str`"}]


async def test_oversized_body_is_413_with_the_limit(app_client: TestClient) -> None:  # type: ignore[type-arg]
    response = await app_client.post(
        "/test/notes", data=io.BytesIO(b"x" * (2 * 1024 * 1024)), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    doc = await response.json()
    assert_problem(doc, 413, "payload-too-large")
    assert doc["limit"] == 1024 * 1024


async def test_unexpected_error_is_a_bare_500_with_the_traceback_in_the_log(
    app_client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="mnwd.web"):
        response = await app_client.get("/test/explode", headers={"X-Request-Id": "trace-me"})
    assert response.status == 500
    doc = await response.json()
    assert_problem(doc, 500, "internal-error")
    assert doc["request_id"] == "trace-me"
    assert "secret internal detail" not in await response.text()
    record = next(r for r in caplog.records if r.name == "mnwd.web")
    assert record.exc_info is not None
    assert "secret internal detail" in str(record.exc_info[1])


async def test_metrics_count_requests_per_route(client: TestClient) -> None:  # type: ignore[type-arg]
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/nowhere")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'mnwd_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'mnwd_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'mnwd_db_pool_connections{state="max"} 20.0' in text
    assert "mnwd_http_request_duration_seconds_bucket" in text


async def test_a_raised_redirect_is_counted_and_logged_with_its_own_status_and_id(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`GET /settings` signed out raises `web.HTTPSeeOther` (login_redirect): it used to be counted and logged
    as 500, without an X-Request-Id."""
    with caplog.at_level(logging.INFO, logger="mnwd.access"):
        response = await client.get("/settings", headers={"X-Request-Id": "see-other-1"}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login?next=/settings"
    assert response.headers["X-Request-Id"] == "see-other-1"
    access = [r for r in caplog.records if r.name == "mnwd.access" and getattr(r, "path", "") == "/settings"]
    assert [getattr(r, "status", None) for r in access] == [303]
    text = await (await client.get("/metrics")).text()
    assert 'mnwd_http_requests_total{method="GET",route="/settings",status="303"} 1.0' in text
    assert 'route="/settings",status="500"' not in text


async def test_a_nul_character_that_reaches_the_database_is_a_400_not_a_500(app_client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await app_client.get("/test/store", params={"text": "fine"})).status == 200
    response = await app_client.get("/test/store", params={"text": "bad\u0000text"})
    assert response.status == 400
    assert_problem(await response.json(), 400, "nul-character")
