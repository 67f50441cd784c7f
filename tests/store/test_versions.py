"""File versions: streamed uploads, the tier's limits decided before reading, one current version under
concurrent uploads, downloads with Range/ETag and counts, and storage_used_bytes kept true."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from mnwd.store.files import collect_file
from tests.store.conftest import Api

MB = 1 << 20


async def _item(api: Api, **fields: Any) -> dict[str, Any]:
    project = await api.project("tools")
    return await api.item(project["id"], "app", **fields)


async def test_an_upload_becomes_the_current_version_and_downloads(
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
) -> None:
    item = await _item(maker_api)
    data = b"first file\n" * 1000
    status, version = await maker_api.put_file(
        item["id"], data, "version=1.0.0&changelog=First&filename=app.zip", **{"Content-Type": "application/zip"}
    )
    assert status == 201, version
    assert version["sha256"] == hashlib.sha256(data).hexdigest()
    assert (version["size"], version["current"], version["file_name"]) == (len(data), True, "app.zip")
    async with client.get("/@maker/tools/app/download") as response:
        assert response.status == 200
        assert await response.read() == data
        assert response.headers["Content-Type"] == "application/zip"
        assert response.headers["ETag"] == f'"{version["sha256"]}"'
        assert 'filename="app.zip"' in response.headers["Content-Disposition"]
    async with client.get("/@maker/tools/app/download", headers={"Range": "bytes=5-14"}) as response:
        assert response.status == 206
        assert await response.read() == data[5:15]
        assert response.headers["Content-Range"] == f"bytes 5-14/{len(data)}"
    etag = f'"{version["sha256"]}"'
    async with client.get("/@maker/tools/app/download", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    async with client.head("/@maker/tools/app/download") as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(data))
    # The full download counts, the range from byte 5, the 304 and the HEAD do not.
    assert await pool.fetchval("SELECT download_count FROM versions") == 1
    assert await pool.fetchval("SELECT download_count FROM items") == 1

    status, _second = await maker_api.put_file(item["id"], b"second", "version=1.1.0")
    assert status == 201
    async with client.get("/@maker/tools/app/download") as response:
        assert await response.read() == b"second"
    async with client.get("/@maker/tools/app/download?version=1.0.0") as response:
        assert await response.read() == data
    async with client.get("/@maker/tools/app/download?version=9.9") as response:
        assert response.status == 404
    rows = await pool.fetch("SELECT version_number, is_current FROM versions ORDER BY created_at")
    assert [(r["version_number"], r["is_current"]) for r in rows] == [("1.0.0", False), ("1.1.0", True)]


async def test_a_duplicate_version_number_is_409_and_counts_nothing(maker_api: Api, pool: asyncpg.Pool) -> None:
    item = await _item(maker_api)
    assert (await maker_api.put_file(item["id"], b"one", "version=1.0"))[0] == 201
    status, problem = await maker_api.put_file(item["id"], b"other bytes", "version=1.0")
    assert status == 409
    assert problem["type"].endswith("/version-taken")
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == 3
    assert await pool.fetchval("SELECT count(*) FROM versions WHERE is_current") == 1


async def test_bad_version_fields_are_refused_before_the_body(maker_api: Api) -> None:
    item = await _item(maker_api)
    for query in [
        "",
        "version=",
        "version=../../x",
        "version=1.0&filename=../../etc/passwd",
        "version=1&filename=.env",
    ]:
        status, problem = await maker_api.put_file(item["id"], b"x", query)
        assert status == 422, (query, problem)
    status, problem = await maker_api.put_file(item["id"], b"x", "version=1", **{"Content-Type": "not a type"})
    assert status == 400


async def test_a_huge_declared_upload_is_refused_with_413_before_reading(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    """The attack: a 2 GB Content-Length from a basic-tier creator (100 MB files). The server answers 413 from
    the headers alone, without waiting for (or buffering) the body, which is never sent."""
    item = await _item(maker_api)
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"PUT /api/v1/items/{item['id']}/versions?version=2.0 HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nAuthorization: Bearer {maker_api.token}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {2 * 1024**3}\r\n\r\n"
            ).encode()
            + b"x" * 1000
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"application/problem+json" in head


async def test_expect_continue_is_answered_413_without_a_100(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    item = await _item(maker_api)
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"PUT /api/v1/items/{item['id']}/versions?version=2.0 HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nAuthorization: Bearer {maker_api.token}\r\n"
                f"Expect: 100-continue\r\nContent-Length: {101 * MB}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_no_content_length_is_411(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    item = await _item(maker_api)

    async def body() -> Any:
        yield b"chunked"

    async with client.put(
        f"/api/v1/items/{item['id']}/versions?version=1", data=body(), headers=maker_api.headers
    ) as response:
        assert response.status == 411


async def test_a_body_shorter_than_declared_stores_nothing(
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
) -> None:
    item = await _item(maker_api)
    host, port = client.server.host, client.server.port
    _reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"PUT /api/v1/items/{item['id']}/versions?version=1 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: Bearer {maker_api.token}\r\nContent-Length: 100\r\n\r\n"
        ).encode()
        + b"only ten b"
    )
    await writer.drain()
    writer.close()
    for _ in range(50):
        await asyncio.sleep(0.05)
    assert await pool.fetchval("SELECT count(*) FROM versions") == 0
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == 0


async def test_the_storage_left_is_checked_too(maker_api: Api, pool: asyncpg.Pool) -> None:
    item = await _item(maker_api)
    await pool.execute("UPDATE users SET storage_used_bytes = $1 WHERE username = 'maker'", (1 << 30) - 10)
    status, problem = await maker_api.put_file(item["id"], b"x" * 11, "version=1")
    assert status == 413
    assert "storage" in problem["detail"]
    assert (await maker_api.put_file(item["id"], b"x" * 10, "version=1"))[0] == 201


async def test_concurrent_uploads_leave_exactly_one_current_version(maker_api: Api, pool: asyncpg.Pool) -> None:
    """Twelve uploads of one item at once: all succeed, and exactly one version is current, the last to commit
    (the item's row lock orders them; without it the partial unique index would refuse some)."""
    item = await _item(maker_api)
    results = await asyncio.gather(
        *(maker_api.put_file(item["id"], f"file {n}".encode() * 100, f"version=1.{n}") for n in range(12))
    )
    assert [status for status, _ in results] == [201] * 12, results
    rows = await pool.fetch("SELECT version_number, is_current, updated_at FROM versions ORDER BY created_at")
    assert len(rows) == 12
    assert sum(r["is_current"] for r in rows) == 1
    sizes = sum(len(f"file {n}".encode() * 100) for n in range(12))
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == sizes


async def test_storage_used_equals_the_sum_of_sizes_through_adds_and_removes(
    maker_api: Api, services: Services, pool: asyncpg.Pool
) -> None:
    async def check() -> None:
        used = await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'")
        total = await pool.fetchval(
            "SELECT coalesce(sum(v.file_size_bytes), 0) FROM versions v JOIN items i ON i.id = v.item_id "
            "JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id WHERE u.username = 'maker'"
        )
        assert used == total

    project = await maker_api.project("tools")
    one = await maker_api.item(project["id"], "one")
    two = await maker_api.item(project["id"], "two")
    for n in range(3):
        await maker_api.put_file(one["id"], b"a" * (1000 + n), f"version={n}")
        await maker_api.put_file(two["id"], b"b" * (50 + n), f"version={n}")
        await check()
    versions = (await maker_api.call("GET", f"/api/v1/items/{one['id']}/versions"))[1]["versions"]
    current = next(v for v in versions if v["current"])
    assert (await maker_api.call("DELETE", f"/api/v1/items/{one['id']}/versions/{current['id']}"))[0] == 204
    await check()
    assert (
        await pool.fetchval("SELECT version_number FROM versions WHERE item_id = $1 AND is_current", one["id"]) == "1"
    )
    assert (await maker_api.call("DELETE", f"/api/v1/items/{two['id']}"))[0] == 204
    await check()
    other = await maker_api.project("other")
    three = await maker_api.item(other["id"], "three")
    await maker_api.put_file(three["id"], b"c" * 77, "version=1")
    await check()
    assert (await maker_api.call("DELETE", f"/api/v1/projects/{project['id']}"))[0] == 204
    await check()
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == 77


async def test_deleted_bytes_are_collected_once_nothing_refers_to_them(
    maker_api: Api, services: Services, pool: asyncpg.Pool
) -> None:
    item = await _item(maker_api)
    _, first = await maker_api.put_file(item["id"], b"shared bytes", "version=1")
    _, second = await maker_api.put_file(item["id"], b"shared bytes", "version=2")
    assert first["sha256"] == second["sha256"]
    await maker_api.call("DELETE", f"/api/v1/items/{item['id']}/versions/{first['id']}")
    assert not await collect_file(services, first["sha256"])  # version 2 still has them
    assert await services.blobs.exists(first["sha256"])
    await maker_api.call("DELETE", f"/api/v1/items/{item['id']}/versions/{second['id']}")
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'store.files_collect'") == 2
    await services.jobs.run_due(10)
    assert not await services.blobs.exists(first["sha256"])


async def test_paid_files_are_for_their_owner_only(
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    item = await _item(maker_api, price_cents=900)
    await maker_api.put_file(item["id"], b"paid", "version=1")
    async with client.get("/@maker/tools/app/download", headers={"Accept": "application/json"}) as response:
        assert response.status == 403
        assert (await response.json(content_type=None))["type"].endswith("/purchase-required")
    async with client.get("/@maker/tools/app/download", headers=maker_api.headers) as response:
        assert response.status == 403  # a token is not a browser session: pages know only the session


async def test_a_stored_html_file_is_served_as_a_download_not_a_page(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    item = await _item(maker_api)
    await maker_api.put_file(item["id"], b"<script>alert(1)</script>", "version=1", **{"Content-Type": "text/html"})
    async with client.get("/@maker/tools/app/download") as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment")


async def test_uploads_racing_a_project_delete_leave_storage_true(maker_api: Api, pool: asyncpg.Pool) -> None:
    """Uploads to a project's items while the project is deleted: each either lands before the delete (and its
    bytes are given back with the project's) or finds its item gone (404); storage ends at zero."""
    project = await maker_api.project("doomed")
    targets = [await maker_api.item(project["id"], f"i{n}") for n in range(3)]
    uploads = [
        maker_api.put_file(target["id"], f"{n}".encode() * 5000, f"version={n}") for n, target in enumerate(targets * 3)
    ]
    delete = maker_api.call("DELETE", f"/api/v1/projects/{project['id']}")
    results = await asyncio.gather(*uploads[:5], delete, *uploads[5:])
    assert {status for status, _ in results} <= {201, 204, 404}, results
    assert await pool.fetchval("SELECT count(*) FROM versions") == 0
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == 0


async def test_a_file_name_in_any_script_is_kept_and_sent_back_encoded(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    item = await _item(maker_api)
    status, version = await maker_api.put_file(item["id"], b"x", "version=1&filename=caf%C3%A9%20m%C3%BAsica.zip")
    assert status == 201, version
    assert version["file_name"] == "café música.zip"
    async with client.get("/@maker/tools/app/download") as response:
        disposition = response.headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"caf_ m_sica.zip\"; filename*=UTF-8''caf%C3%A9%20m%C3%BAsica.zip"
    for bad in ["a%0Ab.zip", "..zip", "a/..%2Fb", "%2Fetc"]:
        status, _ = await maker_api.put_file(item["id"], b"x", f"version=2&filename={bad}")
        assert status == 422, bad


async def test_bytes_a_media_file_also_names_are_kept(maker_api: Api, services: Services, pool: asyncpg.Pool) -> None:
    """The store of bytes is shared: deleting the only version of some bytes keeps them while a media file
    (whose key is ``<sha256>/<filename>``) names the same bytes."""
    item = await _item(maker_api)
    _, version = await maker_api.put_file(item["id"], b"\x89PNG same bytes", "version=1")
    await pool.execute(
        "INSERT INTO media_files (user_id, filename, s3_key, content_type, size_bytes) "
        "VALUES ($1, 'a.png', $2, 'image/png', 15)",
        maker_api.user_id,
        f"{version['sha256']}/a.png",
    )
    await maker_api.call("DELETE", f"/api/v1/items/{item['id']}/versions/{version['id']}")
    assert not await collect_file(services, version["sha256"])
    assert await services.blobs.exists(version["sha256"])


async def test_a_file_whose_bytes_are_missing_is_a_404_not_a_500(
    maker_api: Api,
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    item = await _item(maker_api)
    _, version = await maker_api.put_file(item["id"], b"soon gone", "version=1")
    await services.blobs.delete(version["sha256"])
    async with client.get("/@maker/tools/app/download", headers={"Accept": "application/json"}) as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
