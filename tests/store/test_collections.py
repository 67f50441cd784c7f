"""Collections: ``/collections`` pages and forms, the add-to-collection macro, and ``/api/v1/collections``."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import aiohttp
import pytest

from mnwd.app import create_app
from mnwd.services import Services
from mnwd.web.pages import TEMPLATES
from tests.store.social_support import PROBLEM, Client, bearer, make_creator, make_item, make_project, token
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page


@pytest.fixture
async def shelf(alice: Browser, services: Services, make_user: MakeUser, other_browser: Browser) -> SimpleNamespace:
    """bob publishes three items and keeps one private; alice is signed in on ``alice``, bob on ``bob``."""
    pool = services.pool
    await make_user("bob")
    bob_id = await make_creator(pool, "bob")
    await sign_in(other_browser, "bob")
    songs = await make_project(pool, bob_id, "songs")
    w = SimpleNamespace(bob=other_browser, songs=songs)
    w.one = await make_item(pool, songs, "one")
    w.two = await make_item(pool, songs, "two")
    w.three = await make_item(pool, songs, "three")
    w.hidden = await make_item(pool, songs, "hidden", public=False)
    return w


async def create(browser: Browser, **fields: str) -> Page:
    page = await browser.get("/collections")
    return await browser.post("/collections", {"csrf_token": page.csrf, **fields})


def collection_id(page: Page) -> str:
    assert page.location is not None
    match = re.fullmatch(r"/collections/([0-9a-f-]{36})\?saved=created", page.location)
    assert match, page.location
    return match.group(1)


async def add(browser: Browser, cid: str, item: uuid.UUID | str, **fields: str) -> Page:
    page = await browser.get("/collections")
    return await browser.post(f"/collections/{cid}/items", {"csrf_token": page.csrf, "item_id": str(item), **fields})


def titles(page: Page) -> list[str]:
    return re.findall(r'<h3><a href="/@bob/songs/[a-z]+">([^<]+)</a></h3>', page.text)


async def anonymous(client: Client, path: str, **headers: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(client.make_url(path), headers=headers)
        await response.read()
        return response


async def test_a_collection_is_made_filled_ordered_and_shared(
    alice: Browser, shelf: SimpleNamespace, client: Client
) -> None:
    cid = collection_id(await create(alice, title="Reading list", description="Good ones", is_public="on"))
    for item in (shelf.one, shelf.two, shelf.three):
        added = await add(alice, cid, item)
        assert added.location == f"/collections/{cid}?saved=added"
    again = await add(alice, cid, shelf.one, next="/@bob/songs/one")
    assert again.location == "/@bob/songs/one"
    page = await alice.get(f"/collections/{cid}")
    assert titles(page) == ["One", "Two", "Three"]
    assert page.has("Good ones")

    moved = await alice.post(
        f"/collections/{cid}/items/{shelf.three}/move", {"csrf_token": page.csrf, "direction": "up"}
    )
    assert moved.status == 303
    await alice.post(f"/collections/{cid}/items/{shelf.one}/move", {"csrf_token": page.csrf, "direction": "down"})
    assert titles(await alice.get(f"/collections/{cid}")) == ["Three", "One", "Two"]
    # Moving the first up changes nothing.
    await alice.post(f"/collections/{cid}/items/{shelf.three}/move", {"csrf_token": page.csrf, "direction": "up"})
    removed = await alice.post(f"/collections/{cid}/items/{shelf.one}/remove", {"csrf_token": page.csrf})
    assert removed.location == f"/collections/{cid}?saved=removed"
    assert titles(await alice.get(f"/collections/{cid}")) == ["Three", "Two"]

    shared = await anonymous(client, f"/collections/{cid}")
    assert shared.status == 200
    html = await shared.text()
    assert "Remove" not in html
    assert '<meta property="og:title" content="Reading list">' in html
    assert (await anonymous(client, f"/collections/{cid}", **{"If-None-Match": shared.headers["ETag"]})).status == 304
    listing = await alice.get("/collections")
    assert listing.has("Reading list")
    assert listing.has("2 items")


async def test_private_collections_and_someone_elses_ids(
    alice: Browser, shelf: SimpleNamespace, client: Client, services: Services
) -> None:
    cid = collection_id(await create(alice, title="Secret"))
    assert (await add(alice, cid, shelf.one)).status == 303
    assert (await anonymous(client, f"/collections/{cid}")).status == 404
    bob = shelf.bob
    assert (await bob.get(f"/collections/{cid}")).status == 404
    assert (await add(bob, cid, shelf.two)).status == 404
    page = await bob.get("/collections")
    for path, data in (
        (f"/collections/{cid}", {"title": "Mine now"}),
        (f"/collections/{cid}/delete", {}),
        (f"/collections/{cid}/items/{shelf.one}/remove", {}),
        (f"/collections/{cid}/items/{shelf.one}/move", {"direction": "down"}),
    ):
        assert (await bob.post(path, {"csrf_token": page.csrf, **data})).status == 404, path
    assert (await bob.get(f"/collections/{cid}/delete")).status == 404
    assert (await alice.get("/collections/not-a-uuid")).status == 404
    assert await services.pool.fetchval("SELECT title FROM collections") == "Secret"
    assert await services.pool.fetchval("SELECT count(*) FROM collection_items") == 1

    # Items alice may not see cannot be added; neither can what does not exist.
    for item in (shelf.hidden, uuid.uuid4(), "not-a-uuid"):
        assert (await add(alice, cid, item)).status == 404
    # bob, who owns the hidden item, may collect it; others never see it in his public list.
    bobs = collection_id(await create(bob, title="Bob's", is_public="on"))
    assert (await add(bob, bobs, shelf.hidden)).status == 303
    assert (await add(bob, bobs, shelf.one)).status == 303
    assert titles(await bob.get(f"/collections/{bobs}")) == ["Hidden", "One"]
    assert titles(await alice.get(f"/collections/{bobs}")) == ["One"]
    # An item made private later drops out of what others see.
    await services.pool.execute("UPDATE items SET is_public = false WHERE id = $1", shelf.one)
    assert titles(await alice.get(f"/collections/{cid}")) == []


async def test_bad_fields_duplicate_slugs_and_delete(
    alice: Browser, shelf: SimpleNamespace, services: Services
) -> None:
    assert (await create(alice, title="Faves")).status == 303
    taken = await create(alice, title="Faves again", slug="faves")
    assert taken.status == 409
    assert taken.has("You have another collection with the slug faves.")
    assert (await create(alice, title="")).status == 422
    assert (await create(alice, title="ok", slug="../x")).status == 422
    assert (await create(alice, title="ok", description="d" * 2001)).status == 422
    # Made from an item's page: the item goes in at once.
    cid = collection_id(await create(alice, title="With one", item_id=str(shelf.two)))
    assert titles(await alice.get(f"/collections/{cid}")) == ["Two"]
    page = await alice.get(f"/collections/{cid}")
    renamed = await alice.post(f"/collections/{cid}", {"csrf_token": page.csrf, "title": "With one", "slug": "faves"})
    assert renamed.status == 409
    saved = await alice.post(f"/collections/{cid}", {"csrf_token": page.csrf, "title": "Renamed", "is_public": "on"})
    assert saved.location == f"/collections/{cid}?saved=saved"
    assert (await alice.get(f"/collections/{cid}")).has("Renamed")
    confirm = await alice.get(f"/collections/{cid}/delete")
    assert confirm.has("Delete the collection Renamed?")
    done = await alice.post(f"/collections/{cid}/delete", {"csrf_token": confirm.csrf})
    assert done.location == "/collections?saved=deleted"
    assert await services.pool.fetchval("SELECT count(*) FROM collections") == 1
    assert await services.pool.fetchval("SELECT count(*) FROM items") == 4


async def test_the_collections_api(alice: Browser, shelf: SimpleNamespace, services: Services, client: Client) -> None:
    write = await token(services, "alice", "collections:write", "collections:read")
    read = await token(services, "alice", "collections:read")
    created = await client.post("/api/v1/collections", json={"title": "Queue"}, headers=bearer(write))
    assert created.status == 201
    doc = await created.json()
    assert (doc["slug"], doc["is_public"], doc["items"]) == ("queue", False, [])
    cid = doc["id"]
    assert (await client.post("/api/v1/collections", json={"title": "Q"}, headers=bearer(read))).status == 403
    dup = await client.post("/api/v1/collections", json={"title": "Queue"}, headers=bearer(write))
    assert dup.status == 409
    assert (await dup.json())["errors"][0]["field"] == "slug"

    for item in (shelf.one, shelf.two, shelf.three):
        added = await client.post(
            f"/api/v1/collections/{cid}/items", json={"item_id": str(item)}, headers=bearer(write)
        )
        assert added.status == 201
    again = await client.post(
        f"/api/v1/collections/{cid}/items", json={"item_id": str(shelf.one)}, headers=bearer(write)
    )
    assert again.status == 200
    hidden = await client.post(
        f"/api/v1/collections/{cid}/items", json={"item_id": str(shelf.hidden)}, headers=bearer(write)
    )
    assert hidden.status == 404

    order = [str(shelf.three), str(shelf.one), str(shelf.two)]
    ordered = await client.put(f"/api/v1/collections/{cid}/order", json={"item_ids": order}, headers=bearer(write))
    assert ordered.status == 200
    assert [i["item_id"] for i in (await ordered.json())["items"]] == order
    assert [i["position"] for i in (await ordered.json())["items"]] == [0, 1, 2]
    for bad in ([str(shelf.one), str(shelf.two)], [*order, str(shelf.one)], [*order[:2], str(shelf.hidden)]):
        refused = await client.put(f"/api/v1/collections/{cid}/order", json={"item_ids": bad}, headers=bearer(write))
        assert refused.status == 422
    assert (
        await client.put(f"/api/v1/collections/{cid}/order", json={"item_ids": ["x"]}, headers=bearer(write))
    ).status == 422

    patched = await client.patch(f"/api/v1/collections/{cid}", json={"is_public": True}, headers=bearer(write))
    assert (await patched.json())["is_public"] is True
    assert (await patched.json())["title"] == "Queue"
    bob_read = await token(services, "bob", "collections:read", "collections:write")
    public = await client.get(f"/api/v1/collections/{cid}", headers=bearer(bob_read))
    assert public.status == 200
    assert (
        await client.patch(f"/api/v1/collections/{cid}", json={"title": "x"}, headers=bearer(bob_read))
    ).status == 404
    assert (await client.delete(f"/api/v1/collections/{cid}", headers=bearer(bob_read))).status == 404
    assert (await client.delete(f"/api/v1/collections/{cid}/items/{shelf.one}", headers=bearer(bob_read))).status == 404
    await client.patch(f"/api/v1/collections/{cid}", json={"is_public": False}, headers=bearer(write))
    assert (await client.get(f"/api/v1/collections/{cid}", headers=bearer(bob_read))).status == 404

    gone = await client.delete(f"/api/v1/collections/{cid}/items/{shelf.one}", headers=bearer(write))
    assert gone.status == 204
    assert (await client.delete(f"/api/v1/collections/{cid}/items/{shelf.one}", headers=bearer(write))).status == 404
    listed = await (await client.get("/api/v1/collections", headers=bearer(read))).json()
    assert [(c["title"], c["item_count"]) for c in listed["collections"]] == [("Queue", 2)]
    assert (await client.delete(f"/api/v1/collections/{cid}", headers=bearer(write))).status == 204
    missing = await client.get(f"/api/v1/collections/{cid}", headers=bearer(read))
    assert (await missing.json())["type"] == PROBLEM + "not-found"


async def test_the_add_to_collection_macro(alice: Browser, shelf: SimpleNamespace, services: Services) -> None:
    from mnwd.store import collections

    alice_id = await services.pool.fetchval("SELECT id FROM users WHERE username = 'alice'")
    cid = collection_id(await create(alice, title="Has it"))
    await add(alice, cid, shelf.one)
    other = collection_id(await create(alice, title="Lacks it"))
    listed = await collections.list_collections(services.pool, alice_id, item_id=shelf.one)
    env = create_app(services)[TEMPLATES]
    template = env.from_string(
        '{% from "store/collection_add.html" import collection_add with context %}{{ collection_add(item, listed) }}'
    )
    context = {"viewer": SimpleNamespace(username="alice"), "csrf_token": lambda: "tok", "path": "/@bob/songs/one"}
    html = await template.render_async(item=shelf.one, listed=listed, **context)
    assert f'formaction="/collections/{other}/items">Add to Lacks it<' in html
    assert f'formaction="/collections/{cid}/items"' not in html
    assert f'In <a href="/collections/{cid}">Has it</a>' in html
    assert 'name="next" value="/@bob/songs/one"' in html
    html = await template.render_async(item=shelf.one, listed=[], viewer=None, csrf_token=None, path="/@bob/songs/one")
    assert 'href="/login?next=/%40bob/songs/one"' in html
    # The macro's form works: the button posts the item to that collection and comes back.
    page = await alice.get("/collections")
    back = await alice.post(
        f"/collections/{other}/items", {"csrf_token": page.csrf, "item_id": str(shelf.one), "next": "/@bob/songs/one"}
    )
    assert back.location == "/@bob/songs/one"


async def test_adds_racing_get_consecutive_positions(
    alice: Browser, shelf: SimpleNamespace, services: Services
) -> None:
    import asyncio

    from mnwd.store import collections

    alice_id = await services.pool.fetchval("SELECT id FROM users WHERE username = 'alice'")
    cid = uuid.UUID(collection_id(await create(alice, title="Race")))
    items = [shelf.one, shelf.two, shelf.three] + [
        await make_item(services.pool, shelf.songs, f"x{n}") for n in range(7)
    ]
    added = await asyncio.gather(*(collections.add_item(services, alice_id, cid, item) for item in items + items))
    assert sorted(added) == [False] * 10 + [True] * 10
    positions = await services.pool.fetch(
        "SELECT position FROM collection_items WHERE collection_id = $1 ORDER BY position", cid
    )
    assert [r["position"] for r in positions] == list(range(10))
