"""Tags over HTTP: the admin tree at /admin/tags, PUT /api/v1/items/{id}/tags for the item's creator, and the
tag page /tags/{slug} listing the tag's items and those of the tags below it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from tests.store.catalog_rows import make_item, make_project, make_tag, tag_item
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

Client = TestClient[Any, web.Application]


@pytest.fixture
async def admin(browser: Browser, make_user: MakeUser) -> Browser:
    await make_user("curator", is_admin=True)
    await sign_in(browser, "curator")
    return browser


async def _token(services: Services, user_id: uuid.UUID, scopes: list[str]) -> str:
    issued = await create_token(services, user_id, name="test", scopes=scopes, expires_days=None)
    return issued.secret


async def _put_tags(client: Client, token: str, item_id: uuid.UUID | str, body: Any) -> tuple[int, Any]:
    response = await client.put(
        f"/api/v1/items/{item_id}/tags", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status, await response.json()


async def _item_tags(pool: asyncpg.Pool, item_id: uuid.UUID) -> list[tuple[str, bool]]:
    rows = await pool.fetch(
        "SELECT t.slug, it.is_primary FROM item_tags it JOIN tags t ON t.id = it.tag_id WHERE it.item_id = $1 "
        "ORDER BY t.slug",
        item_id,
    )
    return [(r["slug"], r["is_primary"]) for r in rows]


async def test_an_admin_builds_the_tree_with_the_form(admin: Browser, pool: asyncpg.Pool) -> None:
    made = await admin.submit("/admin/tags", "/admin/tags", {"name": "Music", "slug": "music", "parent": ""})
    assert made.status == 303
    assert made.location == "/admin/tags?saved=created"
    child = await admin.submit(
        "/admin/tags", "/admin/tags", {"name": "Electronic", "slug": "electronic", "parent": "music"}
    )
    assert child.status == 303
    await admin.submit("/admin/tags", "/admin/tags", {"name": "Ambient", "slug": "ambient", "parent": "electronic"})
    paths = [r["path"] for r in await pool.fetch("SELECT path FROM tags ORDER BY path")]
    assert paths == ["music", "music.electronic", "music.electronic.ambient"]
    page = await admin.get("/admin/tags")
    assert page.has("music.electronic.ambient")


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "Again", "slug": "music", "parent": ""}, "slug", "This slug is taken by another tag."),
        ({"name": "X", "slug": "x", "parent": "nope"}, "parent", "There is no such tag."),
        ({"name": "X", "slug": "../etc", "parent": ""}, "slug", "Use lowercase letters"),
        ({"name": "X", "slug": "Upper", "parent": ""}, "slug", "Use lowercase letters"),
        ({"name": "   ", "slug": "blank", "parent": ""}, "name", "Give a name"),
        ({"name": "<b>x</b>" * 20, "slug": "long", "parent": ""}, "name", "Give a name"),
    ],
)
async def test_bad_tags_are_refused_on_the_form(
    admin: Browser, pool: asyncpg.Pool, form: dict[str, str], field: str, message: str
) -> None:
    await make_tag(pool, "music", "Music")
    page = await admin.submit("/admin/tags", "/admin/tags", form)
    assert page.status == 422
    assert page.has(message)
    assert f'id="{field}-error"' in page.text
    assert await pool.fetchval("SELECT count(*) FROM tags") == 1


async def test_tags_go_at_most_five_levels_deep(admin: Browser, pool: asyncpg.Pool) -> None:
    parent = None
    for n in range(5):
        await make_tag(pool, f"level{n}", f"Level {n}", parent=parent)
        parent = f"level{n}"
    page = await admin.submit("/admin/tags", "/admin/tags", {"name": "Deep", "slug": "deep", "parent": "level4"})
    assert page.status == 422
    assert page.has("Tags go at most 5 levels deep.")


async def test_renaming_and_deleting_a_tag_takes_its_subtree_and_taggings(
    admin: Browser, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    project = await make_project(pool, maker["id"], "p", "P")
    item = await make_item(pool, project, "i", "Item")
    music = await make_tag(pool, "music", "Music")
    await make_tag(pool, "electronic", "Electronic", parent="music")
    await tag_item(pool, item, "electronic", primary=True)
    renamed = await admin.submit("/admin/tags", f"/admin/tags/{music}", {"name": "Music & sound", "description": "x"})
    assert renamed.status == 303
    assert await pool.fetchval("SELECT name FROM tags WHERE id = $1", music) == "Music & sound"
    confirm = await admin.get(f"/admin/tags/{music}/delete")
    assert confirm.status == 200
    assert confirm.has("the 1 tags below it; 1 items lose these tags")
    deleted = await admin.post(f"/admin/tags/{music}/delete", {"csrf_token": confirm.csrf})
    assert deleted.status == 303
    assert await pool.fetchval("SELECT count(*) FROM tags") == 0
    assert await _item_tags(pool, item) == []
    again = await admin.post(f"/admin/tags/{music}/delete", {"csrf_token": confirm.csrf})
    assert again.status == 404


async def test_only_admins_manage_tags(browser: Browser, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    signed_out = await browser.get("/admin/tags", follow=False)
    assert signed_out.status == 303
    assert signed_out.location is not None
    assert signed_out.location.startswith("/login")
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    assert (await browser.get("/admin/tags")).status == 403
    settings = await browser.get("/settings")
    refused = await browser.post("/admin/tags", {"name": "X", "slug": "x", "parent": "", "csrf_token": settings.csrf})
    assert refused.status == 403
    assert await pool.fetchval("SELECT count(*) FROM tags") == 0


@pytest.fixture
async def tagged(make_user: MakeUser, pool: asyncpg.Pool, services: Services) -> dict[str, Any]:
    maker = await make_user("maker", can_create_projects=True)
    other = await make_user("other", can_create_projects=True)
    project = await make_project(pool, maker["id"], "godot-tools", "Godot tools")
    item = await make_item(pool, project, "water", "Water shaders")
    others_project = await make_project(pool, other["id"], "theirs", "Theirs")
    others_item = await make_item(pool, others_project, "theirs", "Their item")
    await make_tag(pool, "graphics", "Graphics")
    await make_tag(pool, "shaders", "Shaders", parent="graphics")
    await make_tag(pool, "godot", "Godot")
    return {
        "item": item,
        "others_item": others_item,
        "token": await _token(services, maker["id"], ["store:write"]),
        "other_token": await _token(services, other["id"], ["store:write"]),
    }


async def test_the_creator_sets_tags_with_one_primary(
    client: Client, pool: asyncpg.Pool, tagged: dict[str, Any]
) -> None:
    status, body = await _put_tags(
        client, tagged["token"], tagged["item"], {"tags": ["shaders", "godot"], "primary": "godot"}
    )
    assert status == 200, body
    assert body["primary"] == "godot"
    assert [t["slug"] for t in body["tags"]] == ["shaders", "godot"]
    assert body["tags"][0]["path"] == "graphics.shaders"
    assert await _item_tags(pool, tagged["item"]) == [("godot", True), ("shaders", False)]
    # Without "primary" the first is primary; repeats are dropped; the list replaces the old one.
    status, body = await _put_tags(client, tagged["token"], tagged["item"], {"tags": ["shaders", "shaders"]})
    assert status == 200
    assert await _item_tags(pool, tagged["item"]) == [("shaders", True)]
    status, body = await _put_tags(client, tagged["token"], tagged["item"], {"tags": []})
    assert status == 200
    assert body == {"item_id": str(tagged["item"]), "tags": [], "primary": None}
    assert await _item_tags(pool, tagged["item"]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["nope"]}, "tags"),
        ({"tags": ["shaders"], "primary": "godot"}, "primary"),
        ({"tags": [f"t{n}" for n in range(11)]}, "tags"),
        ({"tags": "shaders"}, "tags"),
        ({"tags": [1, 2]}, "tags[0]"),
        ({"tags": ["shaders"], "extra": 1}, "$"),
        ({"tags": ["../../etc/passwd"]}, "tags"),
        ({}, "$"),
    ],
)
async def test_bad_tag_lists_change_nothing(
    client: Client, pool: asyncpg.Pool, tagged: dict[str, Any], body: Any, field: str
) -> None:
    await tag_item(pool, tagged["item"], "godot", primary=True)
    status, problem = await _put_tags(client, tagged["token"], tagged["item"], body)
    assert status == 422, problem
    assert problem["type"].endswith("/validation-failed")
    assert field in [e["field"] for e in problem["errors"]]
    assert await _item_tags(pool, tagged["item"]) == [("godot", True)]


async def test_someone_elses_item_is_not_found_and_stays_untouched(
    client: Client, pool: asyncpg.Pool, tagged: dict[str, Any]
) -> None:
    status, problem = await _put_tags(client, tagged["token"], tagged["others_item"], {"tags": ["godot"]})
    assert status == 404
    assert problem["type"].endswith("/not-found")
    assert await _item_tags(pool, tagged["others_item"]) == []
    for missing in [uuid.uuid4(), "not-a-uuid", "..%2F..%2Fetc"]:
        status, _ = await _put_tags(client, tagged["token"], missing, {"tags": ["godot"]})
        assert status == 404


async def test_the_scope_and_a_token_are_needed(
    client: Client, services: Services, make_user: MakeUser, tagged: dict[str, Any]
) -> None:
    reader = await make_user("reader")
    weak = await _token(services, reader["id"], ["user:read"])
    status, problem = await _put_tags(client, weak, tagged["item"], {"tags": ["godot"]})
    assert status == 403
    assert problem["type"].endswith("/insufficient-scope")
    response = await client.put(f"/api/v1/items/{tagged['item']}/tags", json={"tags": ["godot"]})
    assert response.status == 401


async def test_a_signed_in_creator_sets_tags_with_the_csrf_header(
    browser: Browser, pool: asyncpg.Pool, tagged: dict[str, Any]
) -> None:
    await sign_in(browser, "maker")
    path = f"/api/v1/items/{tagged['item']}/tags"
    without = await browser.client.put(path, json={"tags": ["godot"]}, headers=browser.headers)
    assert without.status == 403
    csrf = (await browser.get("/settings")).csrf
    with_token = await browser.client.put(
        path, json={"tags": ["godot"]}, headers={**browser.headers, "X-CSRF-Token": csrf}
    )
    assert with_token.status == 200
    assert await _item_tags(pool, tagged["item"]) == [("godot", True)]


async def test_concurrent_changes_leave_one_whole_set(
    client: Client, pool: asyncpg.Pool, tagged: dict[str, Any]
) -> None:
    bodies = [{"tags": ["shaders", "godot"]}, {"tags": ["godot", "graphics"]}, {"tags": ["graphics"]}] * 3
    results = await asyncio.gather(*(_put_tags(client, tagged["token"], tagged["item"], b) for b in bodies))
    assert {status for status, _ in results} == {200}
    final = await _item_tags(pool, tagged["item"])
    assert sum(primary for _, primary in final) == 1
    assert {slug for slug, _ in final} in [{"shaders", "godot"}, {"godot", "graphics"}, {"graphics"}]


async def test_the_tag_page_lists_items_of_the_tag_and_below(
    browser: Browser, pool: asyncpg.Pool, tagged: dict[str, Any]
) -> None:
    await tag_item(pool, tagged["item"], "shaders", primary=True)
    page = await browser.get("/tags/graphics")
    assert page.status == 200
    assert page.has("Water shaders")
    assert page.has('<a href="/tags/shaders">Shaders</a>')
    child = await browser.get("/tags/shaders")
    assert child.has('<a href="/tags/graphics">Graphics</a>')
    assert child.has("Water shaders")
    empty = await browser.get("/tags/godot")
    assert 'id="no-items"' in empty.text
    # A private item is not listed.
    await pool.execute("UPDATE items SET is_public = false WHERE id = $1", tagged["item"])
    assert "Water shaders" not in (await browser.get("/tags/graphics")).text
    for missing in ["nope", "..%2F..", "UPPER"]:
        assert (await browser.get(f"/tags/{missing}")).status == 404
    assert (await browser.get("/tags/graphics?page=0")).status == 422


async def test_the_tag_page_is_a_304_the_second_time(browser: Browser, tagged: dict[str, Any]) -> None:
    first = await browser.get("/tags/graphics")
    async with browser.client.get(
        "/tags/graphics", headers={**browser.headers, "If-None-Match": first.headers["ETag"]}
    ) as again:
        assert again.status == 304


async def test_the_tags_api_lists_the_tree(client: Client, tagged: dict[str, Any]) -> None:
    response = await client.get("/api/v1/tags")
    body = await response.json()
    assert [t["path"] for t in body["tags"]] == ["godot", "graphics", "graphics.shaders"]
