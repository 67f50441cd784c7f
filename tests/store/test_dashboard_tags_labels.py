"""The dashboard's checkbox forms: a project's labels on /dashboard/store/projects/{id}, an item's tags (one
primary) on /dashboard/store/items/{id}. Someone else's ids are 404; unknown slugs are 422 with the field marked
and nothing written."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from mnwd.store.labels import set_project_labels
from mnwd.store.pages_catalog import UNCHECKED_SECONDS
from mnwd.store.tags import set_item_tags
from tests.store.catalog_rows import make_tag
from tests.store.conftest import Api
from tests.support.browser import Browser, Page, _page


async def _post(browser: Browser, form_page: str, action: str, pairs: list[tuple[str, str]]) -> Page:
    """Post a form whose checkboxes give one name several values."""
    token = (await browser.get(form_page)).csrf
    data = [("csrf_token", token), *pairs]
    async with browser.client.post(action, data=data, headers=browser.headers, allow_redirects=False) as response:
        return await _page(response)


async def _labels(pool: asyncpg.Pool, project_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT l.slug FROM project_labels pl JOIN labels l ON l.id = pl.label_id WHERE pl.project_id = $1 "
        "ORDER BY l.slug",
        uuid.UUID(project_id),
    )
    return [r["slug"] for r in rows]


async def _tags(pool: asyncpg.Pool, item_id: str) -> list[tuple[str, bool]]:
    rows = await pool.fetch(
        "SELECT t.slug, it.is_primary FROM item_tags it JOIN tags t ON t.id = it.tag_id WHERE it.item_id = $1 "
        "ORDER BY t.slug",
        uuid.UUID(item_id),
    )
    return [(r["slug"], r["is_primary"]) for r in rows]


async def test_a_creator_picks_a_projects_labels(maker: Browser, maker_api: Api, pool: asyncpg.Pool) -> None:
    project = await maker_api.project("tools")
    path = f"/dashboard/store/projects/{project['id']}"
    page = await maker.get(path)
    assert page.has('id="labels-form"')
    assert page.has('value="drm-free"')
    assert page.has('value="no-ai-training"')

    saved = await _post(maker, path, f"{path}/labels", [("label", "drm-free"), ("label", "open-source")])
    assert saved.status == 303
    assert saved.location == f"{path}?saved=labels"
    assert await _labels(pool, project["id"]) == ["drm-free", "open-source"]
    shown = await maker.get(f"{path}?saved=labels")
    assert shown.has("The labels were saved.")
    assert shown.has('value="drm-free" checked')
    assert not shown.has('value="no-ai-training" checked')
    public = await maker.get("/@maker/tools")
    assert public.has("DRM-free")

    unknown = await _post(maker, path, f"{path}/labels", [("label", "drm-free"), ("label", "<b>nope</b>")])
    assert unknown.status == 422
    assert unknown.has('aria-invalid="true"')
    assert unknown.has('id="labels-error"')
    assert "&lt;b&gt;nope&lt;/b&gt;" in unknown.text
    assert "<b>nope" not in unknown.text
    assert await _labels(pool, project["id"]) == ["drm-free", "open-source"]

    cleared = await _post(maker, path, f"{path}/labels", [])
    assert cleared.status == 303
    assert await _labels(pool, project["id"]) == []


async def test_a_creator_picks_an_items_tags_and_the_primary_one(
    maker: Browser, maker_api: Api, pool: asyncpg.Pool
) -> None:
    await make_tag(pool, "graphics", "Graphics")
    await make_tag(pool, "shaders", "Shaders", parent="graphics")
    await make_tag(pool, "godot", "Godot")
    item = await maker_api.item((await maker_api.project("tools"))["id"], "water")
    path = f"/dashboard/store/items/{item['id']}"
    page = await maker.get(path)
    assert page.has('id="tags-form"')
    assert page.has('name="primary" value="shaders"')

    pairs = [("tag", "shaders"), ("tag", "godot"), ("primary", "godot")]
    saved = await _post(maker, path, f"{path}/tags", pairs)
    assert saved.status == 303
    assert await _tags(pool, item["id"]) == [("godot", True), ("shaders", False)]
    shown = await maker.get(f"{path}?saved=tags")
    assert shown.has("The tags were saved.")
    assert shown.has('value="godot" aria-label="Godot is the primary tag" checked')
    assert (await maker.get("/tags/graphics")).has("Water")

    first = await _post(maker, path, f"{path}/tags", [("tag", "shaders"), ("tag", "godot")])
    assert first.status == 303
    assert await _tags(pool, item["id"]) == [("godot", False), ("shaders", True)]

    unknown = await _post(maker, path, f"{path}/tags", [("tag", "shaders"), ("tag", "nonexistent")])
    assert unknown.status == 422
    assert unknown.has('aria-invalid="true"')
    assert unknown.has("There is no tag 'nonexistent'")
    stray = await _post(maker, path, f"{path}/tags", [("tag", "shaders"), ("primary", "godot")])
    assert stray.status == 422
    assert stray.has("The primary tag must be one of the item")
    too_many = await _post(maker, path, f"{path}/tags", [("tag", f"t{n}") for n in range(11)])
    assert too_many.status == 422
    assert await _tags(pool, item["id"]) == [("godot", False), ("shaders", True)]

    cleared = await _post(maker, path, f"{path}/tags", [])
    assert cleared.status == 303
    assert await _tags(pool, item["id"]) == []


async def test_someone_elses_project_and_item_are_not_found(
    maker: Browser, maker_api: Api, rival_api: Api, pool: asyncpg.Pool
) -> None:
    await make_tag(pool, "godot", "Godot")
    project = await rival_api.project("theirs")
    item = await rival_api.item(project["id"], "it")
    await rival_api.call("PUT", f"/api/v1/projects/{project['id']}/labels", {"labels": ["drm-free"]})
    await rival_api.call("PUT", f"/api/v1/items/{item['id']}/tags", {"tags": ["godot"]})
    await maker_api.project("mine")
    token = (await maker.get("/dashboard/store")).csrf
    for path, data in [
        (f"/dashboard/store/projects/{project['id']}/labels", {"label": "open-source"}),
        (f"/dashboard/store/items/{item['id']}/tags", {"tag": ""}),
        (f"/dashboard/store/projects/{uuid.uuid4()}/labels", {}),
        ("/dashboard/store/items/not-an-id/tags", {}),
    ]:
        page = await maker.post(path, {**data, "csrf_token": token})
        assert page.status == 404, path
    assert await _labels(pool, project["id"]) == ["drm-free"]
    assert await _tags(pool, item["id"]) == [("godot", True)]
    assert (await maker.post(f"/dashboard/store/projects/{project['id']}/labels", {})).status == 403


async def test_chapter_and_section_mistakes_are_marked_on_their_own_fields(maker: Browser, maker_api: Api) -> None:
    """The item page holds the item's form and the chapter and section forms: a chapter's bad title marks the
    chapter's field (not the item's ``title``), and what was typed comes back."""
    item = await maker_api.item((await maker_api.project("pod", type="podcast"))["id"], "ep", type="audio")
    path = f"/dashboard/store/items/{item['id']}"
    soon = await maker.submit(path, f"{path}/chapters", {"title": "Intro", "start_seconds": "soon"})
    assert soon.status == 422
    assert soon.has('id="chapter-start-seconds-error"')
    assert soon.has('id="chapter-title" name="title" type="text" value="Intro"')
    bad = await maker.submit(path, f"{path}/chapters", {"title": "", "start_seconds": "5", "url": "ftp://x"})
    assert bad.status == 422
    assert bad.has('id="chapter-title" name="title" type="text" value="" required aria-invalid="true"')
    assert bad.has('value="ftp://x"')
    assert bad.has('id="chapter-url-error"')
    assert 'id="title-error"' not in bad.text
    section = {"title": "Notes", "slug": "Bad Slug", "body": "**kept**", "sort_order": "x"}
    order = await maker.submit(path, f"{path}/sections", section)
    assert order.status == 422
    assert order.has('id="section-sort-order-error"')
    wrong = await maker.submit(path, f"{path}/sections", {**section, "sort_order": "1"})
    assert wrong.status == 422
    assert wrong.has('id="section-slug-error"')
    assert wrong.has(">**kept**</textarea>")
    assert wrong.has('id="section-title" name="title" type="text" value="Notes"')
    assert (await maker.submit(path, f"{path}/sections", {**section, "slug": "notes", "sort_order": "1"})).status == 303
    taken = await maker.submit(path, f"{path}/sections", {**section, "slug": "notes", "sort_order": "2"})
    assert taken.status == 409
    assert taken.has('id="section-slug-error"')


async def test_a_kept_item_page_shows_tags_and_labels_set_elsewhere(
    maker_api: Api, other_browser: Browser, pool: asyncpg.Pool
) -> None:
    """A change by another daemon (here, straight through the module, not this daemon's handlers) moves the
    item's or project's revision, so the kept page is rendered again within a second."""
    await make_tag(pool, "godot", "Godot")
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    path = "/@maker/tools/app"
    assert not (await other_browser.get(path)).has('href="/tags/godot"')
    await set_item_tags(pool, maker_api.user_id, uuid.UUID(item["id"]), ["godot"], "godot")
    await set_project_labels(pool, maker_api.user_id, uuid.UUID(project["id"]), ["drm-free"])
    await asyncio.sleep(UNCHECKED_SECONDS + 0.1)
    page = await other_browser.get(path)
    assert page.has('href="/tags/godot"')
    assert page.has("DRM-free")
