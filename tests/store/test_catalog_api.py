"""The catalog's JSON API (/api/v1/projects, /api/v1/items): what a creator's token may do, with bad input and
with someone else's ids."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.store.conftest import Api
from tests.support.browser import Browser


async def test_projects_are_created_listed_changed_and_deleted(maker_api: Api, pool: asyncpg.Pool) -> None:
    created = await maker_api.project("tools", description="Small tools", category="software")
    assert created["visibility"] == "public"
    assert created["category"] == "software"
    assert created["url"] == "/@maker/tools"
    status, listed = await maker_api.call("GET", "/api/v1/projects")
    assert status == 200
    assert [p["slug"] for p in listed["projects"]] == ["tools"]

    status, changed = await maker_api.call(
        "PATCH", f"/api/v1/projects/{created['id']}", {"title": "Tools & more", "visibility": "private"}
    )
    assert status == 200, changed
    assert (changed["title"], changed["visibility"], changed["slug"]) == ("Tools & more", "private", "tools")

    status, fetched = await maker_api.call("GET", f"/api/v1/projects/{created['id']}")
    assert status == 200
    assert fetched["items"] == []

    status, _ = await maker_api.call("DELETE", f"/api/v1/projects/{created['id']}")
    assert status == 204
    assert await pool.fetchval("SELECT count(*) FROM projects") == 0


async def test_a_duplicate_slug_is_409_slug_taken_and_writes_nothing(maker_api: Api, pool: asyncpg.Pool) -> None:
    await maker_api.project("tools")
    status, problem = await maker_api.call(
        "POST", "/api/v1/projects", {"slug": "tools", "title": "Again", "type": "software"}
    )
    assert status == 409
    assert problem["type"].endswith("/slug-taken")
    assert await pool.fetchval("SELECT count(*) FROM projects") == 1
    other = await maker_api.project("other")
    status, problem = await maker_api.call("PATCH", f"/api/v1/projects/{other['id']}", {"slug": "tools"})
    assert status == 409
    assert problem["type"].endswith("/slug-taken")


async def test_two_creators_may_use_the_same_slug(maker_api: Api, rival_api: Api) -> None:
    await maker_api.project("tools")
    await rival_api.project("tools")


async def test_bad_project_input_names_every_field(maker_api: Api, pool: asyncpg.Pool) -> None:
    status, problem = await maker_api.call(
        "POST",
        "/api/v1/projects",
        {"slug": "../Etc", "title": " ", "type": "spaceship", "visibility": "secret", "category": "nope"},
    )
    assert status == 422
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"slug", "title", "type", "visibility", "category"}
    status, problem = await maker_api.call("POST", "/api/v1/projects", {"slug": "x", "extra": 1})
    assert status == 422
    status, problem = await maker_api.call("POST", "/api/v1/projects", {})
    assert status == 422
    assert {e["field"] for e in problem["errors"]} >= {"slug", "title", "type"}
    assert await pool.fetchval("SELECT count(*) FROM projects") == 0


async def test_items_with_markdown_prices_and_reading_time(maker_api: Api) -> None:
    project = await maker_api.project("blog", type="writing")
    body = "# Hello\n\n" + " ".join(["word"] * 450) + "\n\n<script>alert(1)</script><img src=x onerror=alert(2)>"
    item = await maker_api.item(project["id"], "post", type="article", body=body, price_cents=0)
    assert item["word_count"] == 451
    assert item["reading_time_minutes"] == 3
    assert item["free"] is True
    status, fetched = await maker_api.call("GET", f"/api/v1/items/{item['id']}")
    assert status == 200
    assert fetched["body"] == body  # the source is kept; pages show it sanitized

    status, changed = await maker_api.call(
        "PATCH", f"/api/v1/items/{item['id']}", {"price_cents": 500, "pwyw_min_cents": 300}
    )
    assert status == 200, changed
    assert (changed["price_cents"], changed["pwyw_enabled"], changed["pwyw_min_cents"]) == (500, True, 300)
    assert changed["free"] is False
    status, changed = await maker_api.call("PATCH", f"/api/v1/items/{item['id']}", {"pwyw_min_cents": None})
    assert (changed["pwyw_enabled"], changed["price_cents"]) == (False, 500)


async def test_negative_prices_and_a_minimum_above_the_price_are_refused(maker_api: Api, pool: asyncpg.Pool) -> None:
    project = await maker_api.project()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"price_cents": -1}, "price_cents"),
        ({"pwyw_min_cents": -5}, "pwyw_min_cents"),
        ({"price_cents": 100, "pwyw_min_cents": 500}, "pwyw_min_cents"),
        ({"price_cents": 10**12}, "price_cents"),
        ({"type": "download", "duration_seconds": 10}, "duration_seconds"),
    ]
    for fields, bad in cases:
        status, problem = await maker_api.call(
            "POST", f"/api/v1/projects/{project['id']}/items", {"slug": "x", "title": "X", "type": "download", **fields}
        )
        assert status == 422, (fields, problem)
        assert bad in {e["field"] for e in problem["errors"]}, problem
    assert await pool.fetchval("SELECT count(*) FROM items") == 0
    item = await maker_api.item(project["id"])
    status, problem = await maker_api.call("PATCH", f"/api/v1/items/{item['id']}", {"price_cents": -100})
    assert status == 422
    assert await pool.fetchval("SELECT price_cents FROM items") == 0


async def test_a_duplicate_item_slug_is_409(maker_api: Api) -> None:
    project = await maker_api.project()
    await maker_api.item(project["id"], "app")
    status, problem = await maker_api.call(
        "POST", f"/api/v1/projects/{project['id']}/items", {"slug": "app", "title": "Two", "type": "download"}
    )
    assert status == 409
    assert problem["type"].endswith("/slug-taken")


async def test_someone_elses_ids_are_not_found_on_every_route(maker_api: Api, rival_api: Api) -> None:
    """The attack: a creator sends another creator's project, item, version, chapter and section ids to every
    endpoint that takes one. Each answers 404, as for an id that does not exist, and nothing changes."""
    project = await maker_api.project("tools", visibility="private")
    item = await maker_api.item(project["id"], "app", visibility="private")
    status, version = await maker_api.put_file(item["id"], b"v1", "version=1.0")
    assert status == 201, version
    audio = await maker_api.item(project["id"], "song", type="audio")
    status, chapter = await maker_api.call(
        "POST", f"/api/v1/items/{audio['id']}/chapters", {"title": "Intro", "start_seconds": 0}
    )
    assert status == 201, chapter
    status, section = await maker_api.call(
        "POST", f"/api/v1/items/{item['id']}/sections", {"title": "Notes", "slug": "notes", "body": "hi"}
    )
    assert status == 201, section
    mine = await rival_api.item((await rival_api.project("mine"))["id"], "bundle", type="bundle")
    p, i = project["id"], item["id"]
    attempts: list[tuple[str, str, Any]] = [
        ("GET", f"/api/v1/projects/{p}", None),
        ("PATCH", f"/api/v1/projects/{p}", {"title": "Pwned"}),
        ("DELETE", f"/api/v1/projects/{p}", None),
        ("POST", f"/api/v1/projects/{p}/items", {"slug": "x", "title": "X", "type": "download"}),
        ("GET", f"/api/v1/projects/{p}/items", None),
        ("GET", f"/api/v1/items/{i}", None),
        ("PATCH", f"/api/v1/items/{i}", {"title": "Pwned"}),
        ("DELETE", f"/api/v1/items/{i}", None),
        ("GET", f"/api/v1/items/{i}/versions", None),
        ("DELETE", f"/api/v1/items/{i}/versions/{version['id']}", None),
        ("POST", f"/api/v1/items/{audio['id']}/chapters", {"title": "X", "start_seconds": 5}),
        ("DELETE", f"/api/v1/chapters/{chapter['id']}", None),
        ("POST", f"/api/v1/items/{i}/sections", {"title": "X", "slug": "x"}),
        ("DELETE", f"/api/v1/sections/{section['id']}", None),
        ("PUT", f"/api/v1/items/{i}/bundle", {"item_ids": []}),
        ("PUT", f"/api/v1/items/{mine['id']}/bundle", {"item_ids": [i]}),
    ]
    for method, path, body in attempts:
        status, problem = await rival_api.call(method, path, body)
        assert status == 404, (method, path, status, problem)
        assert problem["type"].endswith("/not-found")
    status, problem = await rival_api.put_file(i, b"evil", "version=6.6.6")
    assert status == 404
    status, fetched = await maker_api.call("GET", f"/api/v1/items/{i}")
    assert fetched["title"] == "App"
    assert [v["version"] for v in fetched["versions"]] == ["1.0"]
    assert [s["slug"] for s in fetched["sections"]] == ["notes"]


async def test_no_token_or_a_token_without_the_scope(
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
    services: object,
) -> None:
    async with client.get("/api/v1/projects") as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
    async with client.post("/api/v1/projects", json={}, headers={"Authorization": "Bearer nope"}) as response:
        assert response.status == 401
    from mnwd.accounts.personal_tokens import create_token

    issued = await create_token(services, maker_api.user_id, name="ro", scopes=["store:read"], expires_days=None)  # type: ignore[arg-type]
    reader = Api(maker_api.client, issued.secret, maker_api.user_id)
    status, _ = await reader.call("GET", "/api/v1/projects")
    assert status == 200
    status, problem = await reader.call("POST", "/api/v1/projects", {"slug": "a", "title": "A", "type": "art"})
    assert status == 403
    assert problem["type"].endswith("/insufficient-scope")


async def test_a_user_who_is_not_a_creator_cannot_create_projects(
    services: object,
    client: TestClient,  # type: ignore[type-arg]
    make_user: object,
) -> None:
    from mnwd.accounts.personal_tokens import create_token

    user = await make_user("fan")  # type: ignore[operator]
    issued = await create_token(services, user["id"], name="t", scopes=["store:write"], expires_days=None)  # type: ignore[arg-type]
    api = Api(client, issued.secret, user["id"])
    status, problem = await api.call("POST", "/api/v1/projects", {"slug": "a", "title": "A", "type": "art"})
    assert status == 403
    assert problem["type"].endswith("/forbidden")


async def test_the_session_may_call_the_api_with_its_csrf_header(maker: Browser, pool: asyncpg.Pool) -> None:
    page = await maker.get("/dashboard/store")
    body = {"slug": "tools", "title": "Tools", "type": "software"}
    headers = {**maker.headers, "Accept": "application/json"}
    async with maker.client.post("/api/v1/projects", json=body, headers=headers) as response:
        assert response.status == 403
        assert (await response.json(content_type=None))["type"].endswith("/csrf-failed")
    async with maker.client.post(
        "/api/v1/projects", json=body, headers={**headers, "X-CSRF-Token": page.csrf}
    ) as response:
        assert response.status == 201, await response.text()
    assert await pool.fetchval("SELECT count(*) FROM projects") == 1


async def test_a_public_item_is_readable_by_anyone_a_private_one_by_nobody_else(
    maker_api: Api,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    public = await maker_api.project("open")
    shown = await maker_api.item(public["id"], "shown")
    hidden = await maker_api.item(public["id"], "hidden", visibility="private")
    async with client.get(f"/api/v1/items/{shown['id']}") as response:
        assert response.status == 200
        assert (await response.json())["title"] == "Shown"
    for item_id in (hidden["id"], uuid.uuid4(), "../etc"):
        async with client.get(f"/api/v1/items/{item_id}") as response:
            assert response.status == 404


async def test_a_project_limit_per_tier(maker_api: Api, pool: asyncpg.Pool) -> None:
    for n in range(10):
        await maker_api.project(f"p{n}")
    status, problem = await maker_api.call("POST", "/api/v1/projects", {"slug": "p10", "title": "X", "type": "art"})
    assert status == 403
    assert problem["type"].endswith("/project-limit")
    assert problem["limit"] == 10


async def test_sections_and_chapters(maker_api: Api) -> None:
    project = await maker_api.project("pod", type="podcast")
    episode = await maker_api.item(project["id"], "ep1", type="audio", duration_seconds=3600.5)
    assert episode["duration_seconds"] == 3600.5
    for title, start in [("Intro", 0), ("Interview", 95.5)]:
        status, _ = await maker_api.call(
            "POST", f"/api/v1/items/{episode['id']}/chapters", {"title": title, "start_seconds": start}
        )
        assert status == 201
    status, _ = await maker_api.call(
        "POST", f"/api/v1/items/{episode['id']}/chapters", {"title": "Again", "start_seconds": 0}
    )
    assert status == 409
    status, _ = await maker_api.call(
        "POST", f"/api/v1/items/{episode['id']}/chapters", {"title": "Neg", "start_seconds": -1}
    )
    assert status == 422
    status, section = await maker_api.call(
        "POST", f"/api/v1/items/{episode['id']}/sections", {"title": "Notes", "slug": "notes", "body": "*hi*"}
    )
    assert status == 201
    status, _ = await maker_api.call(
        "POST", f"/api/v1/items/{episode['id']}/sections", {"title": "Notes", "slug": "notes"}
    )
    assert status == 409
    status, doc = await maker_api.call("GET", f"/api/v1/items/{episode['id']}")
    assert [c["title"] for c in doc["chapters"]] == ["Intro", "Interview"]
    assert [s["slug"] for s in doc["sections"]] == ["notes"]
    status, _ = await maker_api.call("DELETE", f"/api/v1/chapters/{doc['chapters'][0]['id']}")
    assert status == 204
    status, _ = await maker_api.call("DELETE", f"/api/v1/sections/{section['id']}")
    assert status == 204
    status, doc = await maker_api.call("GET", f"/api/v1/items/{episode['id']}")
    assert ([c["title"] for c in doc["chapters"]], doc["sections"]) == (["Interview"], [])


async def test_a_bundle_holds_the_creators_items_and_never_itself(maker_api: Api, rival_api: Api) -> None:
    project = await maker_api.project()
    bundle = await maker_api.item(project["id"], "all", type="bundle", price_cents=1500)
    one = await maker_api.item(project["id"], "one")
    two = await maker_api.item(project["id"], "two")
    status, held = await maker_api.call(
        "PUT", f"/api/v1/items/{bundle['id']}/bundle", {"item_ids": [two["id"], one["id"]]}
    )
    assert status == 200, held
    assert held["item_ids"] == [two["id"], one["id"]]
    status, problem = await maker_api.call("PUT", f"/api/v1/items/{bundle['id']}/bundle", {"item_ids": [bundle["id"]]})
    assert status == 422
    assert problem["errors"][0]["message"] == "A bundle cannot contain itself."
    status, problem = await maker_api.call("PUT", f"/api/v1/items/{one['id']}/bundle", {"item_ids": [two["id"]]})
    assert status == 422
    theirs = await rival_api.item((await rival_api.project("x"))["id"], "theirs")
    status, problem = await maker_api.call("PUT", f"/api/v1/items/{bundle['id']}/bundle", {"item_ids": [theirs["id"]]})
    assert status == 404
    status, doc = await maker_api.call("GET", f"/api/v1/items/{bundle['id']}")
    assert [b["id"] for b in doc["bundle_items"]] == [two["id"], one["id"]]


async def test_the_profile_and_its_links_through_the_api(maker_api: Api, rival_api: Api) -> None:
    status, profile = await maker_api.call("GET", "/api/v1/profile")
    assert status == 200
    assert (profile["username"], profile["display_name"], profile["links"]) == ("maker", None, [])
    status, profile = await maker_api.call("PATCH", "/api/v1/profile", {"display_name": "Mia", "bio": "Tools."})
    assert status == 200, profile
    assert (profile["display_name"], profile["bio"]) == ("Mia", "Tools.")
    status, profile = await maker_api.call("PATCH", "/api/v1/profile", {"bio": None})
    assert (profile["display_name"], profile["bio"]) == ("Mia", None)
    status, _ = await maker_api.call("PATCH", "/api/v1/profile", {"avatar_media_id": str(uuid.uuid4())})
    assert status == 422
    status, link = await maker_api.call("POST", "/api/v1/profile/links", {"title": "Site", "url": "https://x.example"})
    assert status == 201, link
    status, _problem = await maker_api.call("POST", "/api/v1/profile/links", {"title": "Bad", "url": "javascript:x"})
    assert status == 422
    assert (await rival_api.call("DELETE", f"/api/v1/profile/links/{link['id']}"))[0] == 404
    assert [entry["title"] for entry in (await maker_api.call("GET", "/api/v1/profile"))[1]["links"]] == ["Site"]
    assert (await maker_api.call("DELETE", f"/api/v1/profile/links/{link['id']}"))[0] == 204
