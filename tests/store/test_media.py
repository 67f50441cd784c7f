"""The media library: ``/dashboard/media``, ``/api/v1/media`` and ``/media/{id}/{filename}``, over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import aiohttp
import asyncpg
import pytest

from mnwd.services import Services
from mnwd.web.markdown import render_markdown
from tests.store.social_support import PROBLEM, Client, bearer, image_bytes, make_creator, token, user_id
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

MIB = 1 << 20
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10


def form(csrf: str | None, data: bytes, filename: str = "cover.png", **fields: str) -> aiohttp.FormData:
    body = aiohttp.FormData()
    if csrf is not None:
        body.add_field("csrf_token", csrf)
    for name, value in fields.items():
        body.add_field(name, value)
    body.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return body


async def upload_page(browser: Browser, data: bytes, filename: str = "cover.png", **fields: str) -> Any:
    page = await browser.get("/dashboard/media")
    assert page.status == 200, page.text
    return await browser.client.post(
        "/dashboard/media",
        data=form(page.csrf, data, filename, **fields),
        headers=browser.headers,
        allow_redirects=False,
    )


async def api_upload(client: Client, secret: str, data: bytes, filename: str = "a.png", **fields: str) -> Any:
    return await client.post("/api/v1/media", data=form(None, data, filename, **fields), headers=bearer(secret))


async def storage(pool: asyncpg.Pool, username: str) -> int:
    used: int = await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = $1", username)
    return used


async def media_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM media_files")
    return count


@pytest.fixture
async def creator(alice: Browser, services: Services) -> Browser:
    await make_creator(services.pool, "alice")
    return alice


async def test_an_image_uploaded_in_the_form_is_listed_and_served(creator: Browser, services: Services) -> None:
    data = image_bytes("PNG", (5, 7))
    response = await upload_page(creator, data, "cover.png", folder="covers/2026", alt_text="A red square")
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/dashboard/media?folder=covers/2026&saved=uploaded"

    page = await creator.get(response.headers["Location"])
    assert page.has("The image was uploaded.")
    assert page.has("covers/2026/cover.png")
    match = re.search(r"!\[A red square\]\((/media/([0-9a-f-]{36})/cover\.png)\)", page.text)
    assert match, page.text
    url = match.group(1)

    served = await creator.client.get(url)
    assert served.status == 200
    assert await served.read() == data
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    assert served.headers["ETag"] == etag
    again = await creator.client.get(url, headers={"If-None-Match": etag})
    assert again.status == 304
    assert (await creator.client.get(url.replace("cover.png", "other.png"))).status == 404
    assert (await creator.client.get("/media/not-a-uuid/cover.png")).status == 404

    assert await storage(services.pool, "alice") == len(data)
    row = await services.pool.fetchrow("SELECT width, height, content_type, alt_text FROM media_files")
    assert dict(row) == {"width": 5, "height": 7, "content_type": "image/png", "alt_text": "A red square"}
    # Markdown that names it shows the image.
    assert f'<img src="{url}" alt="A red square"' in str(render_markdown(f"![A red square]({url})"))


@pytest.mark.parametrize("kind", ["JPEG", "GIF", "WEBP"])
async def test_jpeg_gif_and_webp_are_accepted_with_their_type(
    creator: Browser,
    services: Services,
    client: Client,
    kind: str,
) -> None:
    secret = await token(services, "alice", "media:write", "media:read")
    response = await api_upload(client, secret, image_bytes(kind), f"pic.{kind.lower()}")
    assert response.status == 201, await response.text()
    doc = await response.json()
    assert doc["content_type"] == f"image/{kind.lower()}"
    served = await client.get(doc["url"])
    assert served.headers["Content-Type"] == f"image/{kind.lower()}"


@pytest.mark.parametrize(("data", "name"), [(SVG, "x.svg"), (FAKE_PNG, "fake.png"), (b"GIF89a", "short.gif")])
async def test_what_is_not_an_accepted_image_is_refused_with_415(
    creator: Browser,
    services: Services,
    client: Client,
    data: bytes,
    name: str,
) -> None:
    response = await upload_page(creator, data, name)
    assert response.status == 415
    assert "not a PNG, JPEG, GIF or WebP image" in await response.text()
    secret = await token(services, "alice", "media:write")
    response = await api_upload(client, secret, data, name)
    assert response.status == 415
    assert (await response.json())["type"] == PROBLEM + "unsupported-media-type"
    assert await media_count(services.pool) == 0
    assert await storage(services.pool, "alice") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filename", "../evil.png"),
        ("filename", ".hidden.png"),
        ("filename", "a/b.png"),
        ("folder", "../up"),
        ("folder", "a/../../b"),
        ("folder", "a/.git"),
        ("filename", "x" * 300 + ".png"),
    ],
)
async def test_names_that_leave_their_folder_are_refused(
    creator: Browser,
    services: Services,
    client: Client,
    field: str,
    value: str,
) -> None:
    secret = await token(services, "alice", "media:write")
    response = await api_upload(client, secret, image_bytes(), **{field: value})
    assert response.status == 422, await response.text()
    doc = await response.json()
    assert doc["errors"][0]["field"] == ("file" if field == "filename" else "folder")
    # The browser's own file name is checked just the same.
    if field == "filename":
        response = await upload_page(creator, image_bytes(), value)
        assert response.status == 422
    assert await media_count(services.pool) == 0


async def test_a_huge_declared_upload_is_refused_before_its_body(
    creator: Browser,
    services: Services,
    client: Client,
) -> None:
    secret = await token(services, "alice", "media:write")
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            (
                "POST /api/v1/media HTTP/1.1\r\nHost: localhost\r\n"
                f"Authorization: Bearer {secret}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {2 << 30}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(5):
            status = await reader.readuntil(b"\r\n")
    finally:
        writer.close()
    assert status.split()[1] == b"413"
    assert await media_count(services.pool) == 0


async def test_a_body_past_the_limit_without_its_length_declared_is_cut_off(
    creator: Browser,
    services: Services,
    client: Client,
) -> None:
    await services.pool.execute("UPDATE users SET creator_tier = NULL")
    secret = await token(services, "alice", "media:write")

    async def chunks() -> Any:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
        for _ in range(25):
            yield b"\0" * MIB
        yield b"\r\n--x--\r\n"

    response = await client.post(
        "/api/v1/media",
        data=chunks(),
        headers={**bearer(secret), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status == 413
    assert await media_count(services.pool) == 0


async def test_the_storage_of_the_tier_is_enforced_and_given_back_on_delete(
    creator: Browser,
    services: Services,
    client: Client,
) -> None:
    secret = await token(services, "alice", "media:write", "media:read")
    data = image_bytes("PNG", (20, 20))
    await services.pool.execute("UPDATE users SET storage_used_bytes = (1 << 30) - 10 WHERE username = 'alice'")
    response = await api_upload(client, secret, data)
    assert response.status == 413
    assert await media_count(services.pool) == 0
    await services.pool.execute("UPDATE users SET storage_used_bytes = 0 WHERE username = 'alice'")

    first = await (await api_upload(client, secret, data, "one.png")).json()
    second = await (await api_upload(client, secret, data, "one.png", folder="copies")).json()
    assert await storage(services.pool, "alice") == 2 * len(data)
    used = await services.pool.fetchval(
        "SELECT sum(size_bytes) FROM media_files WHERE user_id = (SELECT id FROM users WHERE username = 'alice')"
    )
    assert used == await storage(services.pool, "alice")
    duplicate = await api_upload(client, secret, data, "one.png")
    assert duplicate.status == 409

    sha = first["sha256"]
    assert (await client.delete(f"/api/v1/media/{first['id']}", headers=bearer(secret))).status == 204
    assert await services.blobs.exists(sha)  # the copy still names the bytes
    assert (await client.get(second["url"])).status == 200
    assert (await client.get(first["url"])).status == 404
    assert await storage(services.pool, "alice") == len(data)

    page = await creator.get(f"/dashboard/media/{second['id']}/delete")
    assert page.has("Delete copies/one.png?")
    done = await creator.post(f"/dashboard/media/{second['id']}/delete", {"csrf_token": page.csrf})
    assert done.status == 303
    assert await storage(services.pool, "alice") == 0
    assert not await services.blobs.exists(sha)


async def test_someone_elses_files_are_not_found_and_non_creators_have_no_library(
    creator: Browser,
    services: Services,
    client: Client,
    make_user: MakeUser,
    other_browser: Browser,
) -> None:
    secret = await token(services, "alice", "media:write")
    doc = await (await api_upload(client, secret, image_bytes())).json()

    await make_user("bob")
    await sign_in(other_browser, "bob")
    page = await other_browser.get("/dashboard/media")
    assert page.status == 403
    assert page.has("Only creators have a media library")
    await make_creator(services.pool, "bob")
    assert (await other_browser.get(f"/dashboard/media/{doc['id']}/delete")).status == 404
    page = await other_browser.get("/dashboard/media")
    assert (await other_browser.post(f"/dashboard/media/{doc['id']}/delete", {"csrf_token": page.csrf})).status == 404
    bob = await token(services, "bob", "media:write", "media:read")
    assert (await client.delete(f"/api/v1/media/{doc['id']}", headers=bearer(bob))).status == 404
    assert (await client.get(f"/api/v1/media/{doc['id']}", headers=bearer(bob))).status == 404
    listed = await (await client.get("/api/v1/media", headers=bearer(bob))).json()
    assert listed["files"] == []
    assert await media_count(services.pool) == 1
    # Anyone may see the image itself: it is shown on public pages.
    assert (await other_browser.client.get(doc["url"])).status == 200


async def test_the_api_needs_its_scopes_and_the_form_its_token(
    creator: Browser,
    services: Services,
    client: Client,
) -> None:
    reader = await token(services, "alice", "media:read")
    response = await api_upload(client, reader, image_bytes())
    assert response.status == 403
    assert (await response.json())["type"] == PROBLEM + "insufficient-scope"
    assert (
        await client.get("/api/v1/media", headers=bearer(await token(services, "alice", "user:read")))
    ).status == 403
    # The test client carries alice's session cookie: without the header token the session is refused.
    response = await client.post("/api/v1/media", data=form(None, image_bytes()))
    assert (await response.json())["type"] == PROBLEM + "csrf-failed"
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.post(client.make_url("/api/v1/media"), data=form(None, image_bytes()))
        assert response.status == 401

    no_token = await creator.client.post(
        "/dashboard/media", data=form(None, image_bytes()), headers=creator.headers, allow_redirects=False
    )
    assert no_token.status == 403
    bad_token = await creator.client.post(
        "/dashboard/media", data=form("forged", image_bytes()), headers=creator.headers, allow_redirects=False
    )
    assert bad_token.status == 403
    # A session may use the API with the header token, as the pages' scripts would.
    page = await creator.get("/dashboard/media")
    response = await creator.client.post(
        "/api/v1/media", data=form(None, image_bytes()), headers={**creator.headers, "X-CSRF-Token": page.csrf}
    )
    assert response.status == 201
    listed = await (await client.get("/api/v1/media", headers=bearer(reader))).json()
    assert [f["filename"] for f in listed["files"]] == ["cover.png"]
    assert listed["files"][0]["markdown"].startswith("![cover.png](/media/")
    owner = await user_id(services.pool, "alice")
    assert await services.pool.fetchval("SELECT count(*) FROM media_files WHERE user_id = $1", owner) == 1


async def test_an_empty_upload_and_a_form_without_a_file_are_refused(
    creator: Browser,
    services: Services,
    client: Client,
) -> None:
    secret = await token(services, "alice", "media:write")
    assert (await api_upload(client, secret, b"")).status == 422
    body = aiohttp.FormData()
    body.add_field("folder", "x")
    body.add_field("unused", b"", filename="y")
    response = await client.post("/api/v1/media", data=body, headers=bearer(secret))
    assert response.status == 422
    response = await client.post("/api/v1/media", json={"file": "x"}, headers=bearer(secret))
    assert response.status == 400


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"garbage without parts"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'),
    ],
)
async def test_malformed_multipart_bodies_are_a_400_not_a_crash(
    creator: Browser, services: Services, client: Client, content_type: str, body: bytes
) -> None:
    secret = await token(services, "alice", "media:write")
    response = await client.post("/api/v1/media", data=body, headers={**bearer(secret), "Content-Type": content_type})
    assert 400 <= response.status < 500, await response.text()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert await media_count(services.pool) == 0


async def test_head_and_missing_bytes(creator: Browser, services: Services, client: Client) -> None:
    secret = await token(services, "alice", "media:write")
    doc = await (await api_upload(client, secret, image_bytes())).json()
    head = await client.head(doc["url"])
    assert head.status == 200
    assert head.headers["Content-Type"] == "image/png"
    assert int(head.headers["Content-Length"]) == doc["size_bytes"]
    await services.blobs.delete(doc["sha256"])
    assert (await client.get(doc["url"])).status == 404
