"""The catalog's pages over HTTP: public pages (Open Graph, 304 on a second view, private things hidden,
sanitized markdown, prices) and every dashboard form, with bad input and someone else's ids."""

from __future__ import annotations

import asyncio
import re
import uuid

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.store.pages_catalog import UNCHECKED_SECONDS
from tests.store.conftest import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page

ID_IN_PATH = re.compile(r"/dashboard/store/(?:projects|items)/([0-9a-f-]{36})")


async def test_a_creators_profile_page_with_links_in_order(
    maker: Browser, maker_api: Api, other_browser: Browser, make_user: MakeUser
) -> None:
    saved = await maker.submit(
        "/dashboard/store/profile",
        "/dashboard/store/profile",
        {"display_name": "Mia Maker", "bio": "I make <b>tools</b>.", "avatar_media_id": ""},
    )
    assert saved.status == 303
    for title, url, order in [("Blog", "https://blog.example", "2"), ("Site", "https://example.org", "1")]:
        added = await maker.submit(
            "/dashboard/store/profile",
            "/dashboard/store/profile/links",
            {"title": title, "url": url, "sort_order": order},
        )
        assert added.status == 303, added.text
    await maker_api.project("tools", description="Useful tools")
    await maker_api.project("secret", visibility="private")

    page = await other_browser.get("/@maker")
    assert page.status == 200
    assert page.has("<h1>Mia Maker</h1>")
    assert page.has("I make &lt;b&gt;tools&lt;/b&gt;.") or "I make &lt;b&gt;tools&lt;/b&gt;." in page.text
    assert page.text.index("https://example.org") < page.text.index("https://blog.example")
    assert '<meta property="og:title" content="Mia Maker on mnwd">' in page.text
    assert page.has("Tools")
    assert "Secret" not in page.text
    assert (await maker.get("/@maker")).has("Secret")  # the owner sees their private project

    await make_user("fan")
    assert (await other_browser.get("/@fan")).status == 404  # not a creator
    assert (await other_browser.get("/@nobody")).status == 404
    assert (await other_browser.get("/@..%2F..%2Fetc")).status == 404


async def test_a_second_view_is_a_304(maker_api: Api, other_browser: Browser, maker: Browser) -> None:
    client = other_browser.client  # a visitor's browser, not signed in
    project = await maker_api.project("tools")
    await maker_api.item(project["id"], "app", body="Some *text*")
    for path in ["/@maker", "/@maker/tools", "/@maker/tools/app"]:
        async with client.get(path) as first:
            assert first.status == 200
            etag = first.headers["ETag"]
            assert first.headers["Cache-Control"] == "public, max-age=60"
        async with client.get(path, headers={"If-None-Match": etag}) as second:
            assert second.status == 304
            assert await second.read() == b""
        first_page = await maker.get(path)
        assert first_page.headers["Cache-Control"] == "private, no-cache"
        async with maker.client.get(
            path, headers={**maker.headers, "If-None-Match": first_page.headers["ETag"]}
        ) as again:
            assert again.status == 304
    await maker_api.call("PATCH", f"/api/v1/projects/{project['id']}", {"title": "Renamed"})
    async with client.get("/@maker/tools", headers={"If-None-Match": etag}) as changed:
        assert changed.status == 200


async def test_markdown_with_script_is_sanitized_and_reading_time_shown(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    project = await maker_api.project("blog", type="writing")
    body = (
        "# Title\n\nHello **world** " + "word " * 400 + "\n\n<script>alert('x')</script>\n\n"
        '<img src="x" onerror="alert(1)">\n\n[click](javascript:alert(2))\n\n<a href="https://example.org">ok</a>'
    )
    await maker_api.item(project["id"], "post", type="article", body=body, description="A post")
    async with client.get("/@maker/blog/post") as response:
        text = await response.text()
    article = text[text.index('id="body"') :]
    assert "<strong>world</strong>" in article
    assert "<script" not in article
    assert "onerror" not in article
    assert 'href="javascript' not in article
    assert 'rel="noopener noreferrer nofollow"' in article
    # Title, Hello world, 400 words, the refused link's text (click), ok: the script's words are not counted.
    assert "405 words · 3 min read" in text
    assert '<meta property="og:type" content="article">' in text
    assert '<meta property="og:description" content="A post">' in text


async def test_prices_and_the_disabled_buy_button(maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    project = await maker_api.project("shop")
    paid = await maker_api.item(project["id"], "paid", price_cents=1299)
    await maker_api.put_file(paid["id"], b"paid file", "version=1")
    free = await maker_api.item(project["id"], "free")
    await maker_api.put_file(free["id"], b"free file", "version=1")
    await maker_api.item(project["id"], "pwyw", price_cents=500, pwyw_min_cents=0)
    await maker_api.item(project["id"], "pwyw-min", price_cents=500, pwyw_min_cents=200)
    async with client.get("/@maker/shop/paid") as response:
        text = await response.text()
    assert "12.99 USD" in text
    assert re.search(r'<button type="button" disabled aria-disabled="true" id="buy-button">', text)
    assert 'id="download"' not in text
    async with client.get("/@maker/shop/free") as response:
        text = await response.text()
    assert "Free" in text
    assert "buy-button" not in text
    assert 'href="/@maker/shop/free/download"' in text
    async with client.get("/@maker/shop/pwyw") as response:
        assert "Pay what you want" in await response.text()
    async with client.get("/@maker/shop/pwyw-min") as response:
        assert "2.00 USD or more" in await response.text()
    async with client.get("/@maker/shop") as response:
        text = await response.text()
    assert "12.99 USD" in text
    assert "Free" in text


async def test_private_things_are_not_found_to_others(maker_api: Api, maker: Browser, other_browser: Browser) -> None:
    hidden = await maker_api.project("hidden", visibility="private")
    await maker_api.item(hidden["id"], "inside")
    shown = await maker_api.project("shown")
    await maker_api.item(shown["id"], "draft", visibility="private")
    for path in ["/@maker/hidden", "/@maker/hidden/inside", "/@maker/shown/draft", "/@maker/shown/draft/download"]:
        assert (await other_browser.get(path)).status == 404, path
        assert (await maker.get(path)).status in {200, 404}
    assert (await maker.get("/@maker/hidden/inside")).status == 200
    assert "draft" not in (await other_browser.get("/@maker/shown")).text.lower()


async def _create_project(browser: Browser, **fields: str) -> Page:
    data = {"title": "Tools", "slug": "tools", "type": "software", "category": "software", "visibility": "public"}
    return await browser.submit("/dashboard/store/projects/new", "/dashboard/store/projects", {**data, **fields})


async def test_dashboard_project_and_item_forms(maker: Browser, pool: asyncpg.Pool) -> None:
    assert (await maker.get("/dashboard/store")).status == 200
    created = await _create_project(maker)
    assert created.status == 303
    project_path = created.location.split("?")[0]  # type: ignore[union-attr]
    assert (await maker.get(created.location)).has("The project was saved.")  # type: ignore[arg-type]

    again = await _create_project(maker, title="Other")
    assert again.status == 409
    assert again.has("You already have a project with this slug")
    bad = await _create_project(maker, slug="Bad Slug!", type="boat")
    assert bad.status == 422
    assert bad.has('aria-invalid="true"')
    assert await pool.fetchval("SELECT count(*) FROM projects") == 1

    saved = await maker.submit(
        project_path, project_path, {"title": "Tools 2", "slug": "tools", "type": "software", "visibility": "private"}
    )
    assert saved.status == 303
    assert await pool.fetchval("SELECT (title, is_public)::text FROM projects") == '("Tools 2",f)'

    item_form = {"title": "App", "slug": "app", "type": "article", "body": "Hello <script>x</script>", "price": "4.99"}
    new_item = await maker.submit(f"{project_path}/items/new", f"{project_path}/items", item_form)
    assert new_item.status == 303, new_item.text
    assert await pool.fetchval("SELECT price_cents FROM items") == 499
    negative = await maker.submit(
        f"{project_path}/items/new", f"{project_path}/items", {**item_form, "slug": "neg", "price": "-1"}
    )
    assert negative.status == 422
    assert negative.has("A price cannot be negative.")
    pwyw = await maker.submit(
        f"{project_path}/items/new", f"{project_path}/items", {**item_form, "slug": "pw", "pwyw": "on", "pwyw_min": "9"}
    )
    assert pwyw.status == 422
    dup = await maker.submit(f"{project_path}/items/new", f"{project_path}/items", item_form)
    assert dup.status == 409
    assert await pool.fetchval("SELECT count(*) FROM items") == 1

    item_path = new_item.location.split("?")[0]  # type: ignore[union-attr]
    edited = await maker.submit(item_path, item_path, {**item_form, "title": "App 2", "price": "0"})
    assert edited.status == 303
    assert await pool.fetchval("SELECT (title, price_cents)::text FROM items") == '("App 2",0)'

    confirm = await maker.get(f"{item_path}/delete")
    assert confirm.has("Delete App 2?")
    deleted = await maker.post(f"{item_path}/delete", {"csrf_token": confirm.csrf})
    assert deleted.status == 303
    confirm = await maker.get(f"{project_path}/delete")
    deleted = await maker.post(f"{project_path}/delete", {"csrf_token": confirm.csrf})
    assert deleted.status == 303
    assert await pool.fetchval("SELECT count(*) FROM projects") == 0


async def _multipart(browser: Browser, path: str, fields: list[tuple[str, str]], file: bytes, name: str) -> Page:
    form = aiohttp.FormData()
    for key, value in fields:
        form.add_field(key, value)
    form.add_field("file", file, filename=name, content_type="application/octet-stream")
    async with browser.client.post(path, data=form, headers=browser.headers, allow_redirects=False) as response:
        return Page(response.status, await response.text(), response.headers.get("Location"), response.headers)


async def test_the_upload_form_streams_a_file_with_its_own_csrf_check(
    maker: Browser,
    maker_api: Api,
    pool: asyncpg.Pool,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    path = f"/dashboard/store/items/{item['id']}"
    page = await maker.get(path)
    assert 'enctype="multipart/form-data"' in page.text
    fields = [("csrf_token", page.csrf), ("version", "1.0"), ("changelog", "First")]
    uploaded = await _multipart(maker, f"{path}/versions", fields, b"file body" * 100, "app.bin")
    assert uploaded.status == 303, uploaded.text
    assert await pool.fetchval("SELECT (version_number, file_name, file_size_bytes)::text FROM versions") == (
        "(1.0,app.bin,900)"
    )
    async with client.get("/@maker/tools/app/download") as response:
        assert await response.read() == b"file body" * 100

    no_token = await _multipart(maker, f"{path}/versions", [("version", "2.0")], b"x", "x.bin")
    assert no_token.status == 403
    wrong = await _multipart(maker, f"{path}/versions", [("csrf_token", "forged"), ("version", "2.0")], b"x", "x.bin")
    assert wrong.status == 403
    taken = await _multipart(maker, f"{path}/versions", fields, b"again", "again.bin")
    assert taken.status == 409
    assert taken.has("already has a version 1.0")
    bad = await _multipart(maker, f"{path}/versions", [("csrf_token", page.csrf), ("version", "../1")], b"x", "x.bin")
    assert bad.status == 422
    assert bad.has("A version is 1 to 64")
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("csrf_token", page.csrf)
    form.add_field("version", "3.0")
    async with maker.client.post(f"{path}/versions", data=form, headers=maker.headers) as response:
        assert response.status == 422
        assert "Choose a file to upload." in await response.text()
    assert await pool.fetchval("SELECT count(*) FROM versions") == 1

    listing = await maker.get(path)
    version_id = await pool.fetchval("SELECT id FROM versions")
    confirm = await maker.get(f"{path}/versions/{version_id}/delete")
    assert confirm.status == 200
    gone = await maker.post(f"{path}/versions/{version_id}/delete", {"csrf_token": listing.csrf})
    assert gone.status == 303
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == 0


async def test_the_upload_form_refuses_a_huge_form_from_its_length(
    maker: Browser,
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    cookies = "; ".join(f"{c.key}={c.value}" for c in maker.client.session.cookie_jar)
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"POST /dashboard/store/items/{item['id']}/versions HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Cookie: {cookies}\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {2 * 1024**3}\r\n\r\n--xyz\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_profile_form_refuses_bad_input(maker: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    other = await make_user("other", can_create_projects=True)
    media_id = await pool.fetchval(
        "INSERT INTO media_files (user_id, filename, s3_key, content_type, size_bytes) "
        "VALUES ($1, 'a.png', 'k1', 'image/png', 1) RETURNING id",
        other["id"],
    )
    theirs = await maker.submit(
        "/dashboard/store/profile",
        "/dashboard/store/profile",
        {"display_name": "X", "bio": "", "avatar_media_id": str(media_id)},
    )
    assert theirs.status == 422
    assert theirs.has("There is no such media file in your library.")
    maker_id = await pool.fetchval("SELECT id FROM users WHERE username = 'maker'")
    own = await pool.fetchval(
        "INSERT INTO media_files (user_id, filename, s3_key, content_type, size_bytes) "
        "VALUES ($1, 'me.png', 'k2', 'image/png', 1) RETURNING id",
        maker_id,
    )
    mine = await maker.submit(
        "/dashboard/store/profile",
        "/dashboard/store/profile",
        {"display_name": "X", "bio": "", "avatar_media_id": str(own)},
    )
    assert mine.status == 303
    profile = (await maker.get("/@maker")).text
    assert f'src="/media/{own}/me.png"' in profile
    assert re.search(rf'<meta property="og:image" content="https?://[^"]+/media/{own}/me.png">', profile)
    for url in ["javascript:alert(1)", "ftp://x", "not a url", "https://"]:
        link = await maker.submit(
            "/dashboard/store/profile", "/dashboard/store/profile/links", {"title": "L", "url": url, "sort_order": "0"}
        )
        assert link.status == 422, url
    assert await pool.fetchval("SELECT count(*) FROM custom_links") == 0


async def test_someone_elses_ids_in_every_dashboard_form_are_not_found(
    maker: Browser, maker_api: Api, rival_api: Api, other_browser: Browser, pool: asyncpg.Pool
) -> None:
    """The attack: a signed-in creator opens and posts every dashboard form with another creator's project,
    item, version, chapter, section and link ids. Each is 404 and nothing changes."""
    project = await rival_api.project("theirs")
    item = await rival_api.item(project["id"], "it", type="audio")
    _, version = await rival_api.put_file(item["id"], b"bytes", "version=1")
    _, chapter = await rival_api.call(
        "POST", f"/api/v1/items/{item['id']}/chapters", {"title": "C", "start_seconds": 1}
    )
    _, section = await rival_api.call("POST", f"/api/v1/items/{item['id']}/sections", {"title": "S", "slug": "s"})
    rival_id = rival_api.user_id
    link_id = await pool.fetchval(
        "INSERT INTO custom_links (user_id, title, url) VALUES ($1, 'L', 'https://x.example') RETURNING id", rival_id
    )
    mine = await maker_api.item((await maker_api.project("mine"))["id"], "bundle", type="bundle")
    p, i = f"/dashboard/store/projects/{project['id']}", f"/dashboard/store/items/{item['id']}"
    token = (await maker.get("/dashboard/store")).csrf
    gets = [p, f"{p}/delete", f"{p}/items/new", i, f"{i}/delete", f"{i}/versions/{version['id']}/delete"]
    for path in gets:
        assert (await maker.get(path)).status == 404, path
    posts = [
        (p, {"title": "Pwned", "slug": "theirs", "type": "art"}),
        (f"{p}/delete", {}),
        (f"{p}/items", {"title": "X", "slug": "x", "type": "download"}),
        (i, {"title": "Pwned", "slug": "it", "type": "audio"}),
        (f"{i}/delete", {}),
        (f"{i}/versions/{version['id']}/delete", {}),
        (f"{i}/chapters", {"title": "X", "start_seconds": "5"}),
        (f"{i}/chapters/{chapter['id']}/delete", {}),
        (f"{i}/sections", {"title": "X", "slug": "x"}),
        (f"{i}/sections/{section['id']}/delete", {}),
        (f"{i}/bundle", {}),
        (f"/dashboard/store/items/{mine['id']}/bundle", {"item_id": item["id"]}),
        (f"/dashboard/store/profile/links/{link_id}/delete", {}),
        (f"/dashboard/store/items/{mine['id']}/versions/{version['id']}/delete", {}),
        (f"/dashboard/store/projects/{uuid.uuid4()}", {}),
        ("/dashboard/store/items/not-an-id", {}),
    ]
    for path, data in posts:
        page = await maker.post(path, {**data, "csrf_token": token})
        assert page.status == 404, (path, page.status, page.text[:300])
    upload = await _multipart(maker, f"{i}/versions", [("csrf_token", token), ("version", "2")], b"x", "x.bin")
    assert upload.status == 404
    fetched = (await rival_api.call("GET", f"/api/v1/items/{item['id']}"))[1]
    assert (fetched["title"], len(fetched["versions"]), len(fetched["chapters"]), len(fetched["sections"])) == (
        "It",
        1,
        1,
        1,
    )
    assert await pool.fetchval("SELECT count(*) FROM custom_links") == 1
    assert await pool.fetchval("SELECT count(*) FROM bundle_items") == 0


async def test_the_dashboard_needs_a_signed_in_creator(
    browser: Browser,
    make_user: MakeUser,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    out = await browser.get("/dashboard/store", follow=False)
    assert out.status == 303
    assert out.location == "/login?next=/dashboard/store"
    await make_user("fan")
    await sign_in(browser, "fan")
    assert (await browser.get("/dashboard/store")).status == 403
    assert (await browser.get("/dashboard/store/projects/new")).status == 403


async def test_chapters_sections_and_bundle_forms(maker: Browser, maker_api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    project = await maker_api.project("pod", type="podcast")
    episode = await maker_api.item(project["id"], "ep", type="audio")
    one = await maker_api.item(project["id"], "one")
    bundle = await maker_api.item(project["id"], "all", type="bundle")
    path = f"/dashboard/store/items/{episode['id']}"
    assert (await maker.submit(path, f"{path}/chapters", {"title": "Intro", "start_seconds": "0"})).status == 303
    assert (await maker.submit(path, f"{path}/chapters", {"title": "Talk", "start_seconds": "75"})).status == 303
    bad = await maker.submit(path, f"{path}/chapters", {"title": "Bad", "start_seconds": "soon"})
    assert bad.status == 422
    assert (
        await maker.submit(
            path, f"{path}/sections", {"title": "Notes", "slug": "notes", "body": "**bold**", "sort_order": "1"}
        )
    ).status == 303
    dup = await maker.submit(path, f"{path}/sections", {"title": "Notes", "slug": "notes", "body": ""})
    assert dup.status == 409
    bundle_path = f"/dashboard/store/items/{bundle['id']}"
    saved = await maker.submit(bundle_path, f"{bundle_path}/bundle", {"item_id": one["id"]})
    assert saved.status == 303
    selfish = await maker.submit(bundle_path, f"{bundle_path}/bundle", {"item_id": bundle["id"]})
    assert selfish.status == 422
    assert selfish.has("A bundle cannot contain itself.")
    async with client.get("/@maker/pod/ep") as response:
        text = await response.text()
    assert "1:15</span> Talk" in text
    assert "<strong>bold</strong>" in text
    async with client.get("/@maker/pod/all") as response:
        text = await response.text()
    assert 'href="/@maker/pod/one"' in text


async def test_a_kept_item_page_follows_every_change_of_what_it_shows(
    maker_api: Api, other_browser: Browser, maker: Browser, pool: asyncpg.Pool
) -> None:
    """Visitors not signed in get the item page kept from the last render; any change to the item, its
    versions, sections, project or owner shows at once, and the creator's own view is never the kept one."""
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    path = "/@maker/tools/app"
    assert (await other_browser.get(path)).has("<h1>App</h1>")
    await maker_api.call("PATCH", f"/api/v1/items/{item['id']}", {"title": "App Two"})
    assert (await other_browser.get(path)).has("<h1>App Two</h1>")
    await maker_api.put_file(item["id"], b"file", "version=3.1")
    assert (await other_browser.get(path)).has("version 3.1")
    await maker_api.call("POST", f"/api/v1/items/{item['id']}/sections", {"title": "FAQ", "slug": "faq"})
    assert (await other_browser.get(path)).has("FAQ")
    await maker_api.call("PATCH", f"/api/v1/projects/{project['id']}", {"title": "Toolbox"})
    assert (await other_browser.get(path)).has("Toolbox")
    # A change not made through this daemon's handlers (another daemon, an operator) shows within a second.
    await pool.execute("UPDATE users SET display_name = 'Mia' WHERE username = 'maker'")
    await asyncio.sleep(UNCHECKED_SECONDS + 0.1)
    assert (await other_browser.get(path)).has(">Mia</a>")
    owner_view = await maker.get(path)
    assert owner_view.has("Edit this item")
    assert not (await other_browser.get(path)).has("Edit this item")
    await maker_api.call("PATCH", f"/api/v1/items/{item['id']}", {"visibility": "private"})
    assert (await other_browser.get(path)).status == 404


async def test_a_suspended_creators_pages_and_files_are_not_found(
    maker_api: Api, other_browser: Browser, pool: asyncpg.Pool
) -> None:
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    await maker_api.put_file(item["id"], b"file", "version=1")
    paths = ["/@maker", "/@maker/tools", "/@maker/tools/app", "/@maker/tools/app/download"]
    for path in paths:
        assert (await other_browser.get(path)).status == 200, path
    await pool.execute("UPDATE users SET suspended_at = now() WHERE username = 'maker'")
    await asyncio.sleep(UNCHECKED_SECONDS + 0.1)  # a kept item page is served unchecked for a second
    for path in [*paths, f"/api/v1/items/{item['id']}"]:
        assert (await other_browser.get(path)).status == 404, path


async def test_an_audio_item_with_its_player_chapters_and_every_version(maker_api: Api, other_browser: Browser) -> None:
    project = await maker_api.project("pod", type="podcast")
    episode = await maker_api.item(project["id"], "ep1", type="audio", duration_seconds=125)
    for n in (1, 2):
        await maker_api.put_file(
            episode["id"],
            b"ID3" + bytes([n]) * 100,
            f"version={n}.0&changelog=Take%20{n}",
            **{"Content-Type": "audio/mpeg"},
        )
    await maker_api.call("POST", f"/api/v1/items/{episode['id']}/chapters", {"title": "Welcome", "start_seconds": 3})
    page = await other_browser.get("/@maker/pod/ep1")
    assert '<audio controls preload="none" src="/@maker/pod/ep1/download" id="player"></audio>' in page.text
    assert page.has("2 min 5 s")
    assert page.has("0:03</span> Welcome")
    assert 'href="/@maker/pod/ep1/download?version=1.0"' in page.text
    assert page.has(": Take 1")
    async with other_browser.client.head("/@maker/pod/ep1") as response:
        assert response.status == 200
        assert response.headers["ETag"].startswith('W/"')
    async with other_browser.client.get("/@maker/pod/ep1/download", headers={"Range": "bytes=0-2"}) as response:
        assert response.status == 206
        assert response.headers["Content-Type"] == "audio/mpeg"
        assert await response.read() == b"ID3"
