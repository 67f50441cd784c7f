"""What search, tags, labels, follows, collections and reports add to the catalog's pages: a creator sets
labels and tags with their token, and a signed-in visitor sees them on the item page, follows the project,
adds the item to a collection and finds the report link; a visitor who is not signed in is sent to sign in."""

from __future__ import annotations

import re

import asyncpg

from tests.store.catalog_rows import make_tag
from tests.store.conftest import Api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


async def test_item_and_project_pages_show_labels_tags_and_actions(
    maker_api: Api, other_browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    project = await maker_api.project("tools", description="Useful tools")
    item = await maker_api.item(project["id"], "shader-pack", description="Shaders")
    await make_tag(pool, "graphics", "Graphics")
    status, doc = await maker_api.call(
        "PUT", f"/api/v1/items/{item['id']}/tags", {"tags": ["graphics"], "primary": "graphics"}
    )
    assert status == 200, doc
    status, doc = await maker_api.call("PUT", f"/api/v1/projects/{project['id']}/labels", {"labels": ["drm-free"]})
    assert status == 200, doc

    item_path = "/@maker/tools/shader-pack"
    signed_out = await other_browser.get(item_path)
    assert signed_out.status == 200
    assert signed_out.has('href="/search?label=drm-free"')
    assert signed_out.has('href="/tags/graphics"')
    assert signed_out.has('class="button small follow" href="/login?next=')
    assert signed_out.has("Add to a collection")
    assert signed_out.has(f"/report?target_type=item&target_id={item['id']}")

    await make_user("vera")
    await sign_in(other_browser, "vera")
    made = await other_browser.submit("/collections", "/collections", {"title": "Favourites", "visibility": "public"})
    assert made.status == 303, made.text
    page = await other_browser.get(item_path)
    assert page.has("Add to Favourites")
    match = re.search(r'formaction="(/collections/[0-9a-f-]{36}/items)"', page.text)
    assert match, page.text
    added = await other_browser.submit(item_path, match.group(1), {"item_id": item["id"], "next": item_path})
    assert added.status == 303, added.text
    assert (await other_browser.get(item_path)).has("In <a")
    in_collection = await pool.fetchval(
        "SELECT count(*) FROM collection_items ci JOIN collections c ON c.id = ci.collection_id "
        "WHERE c.title = 'Favourites'"
    )
    assert in_collection == 1

    project_page = await other_browser.get("/@maker/tools")
    assert project_page.has('href="/search?label=drm-free"')
    assert project_page.has('aria-label="Follow Tools"')
    followed = await other_browser.submit(
        "/@maker/tools", "/follow", {"target_type": "project", "target_id": project["id"], "next": "/@maker/tools"}
    )
    assert followed.status == 303, followed.text
    assert (await other_browser.get("/@maker/tools")).has('aria-label="Unfollow Tools"')
    assert (await other_browser.get("/@maker")).has('aria-label="Follow ')
