"""Blog posts: the dashboard's forms and the public ``/blog/...`` pages, drafts, Open Graph tags, ETags."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import aiohttp
import pytest

from mnwd.services import Services
from tests.store.social_support import Client, make_creator, make_project
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page


async def write(browser: Browser, project_id: uuid.UUID | str, **fields: str) -> Page:
    page = await browser.get("/dashboard/blog/new")
    return await browser.post("/dashboard/blog", {"csrf_token": page.csrf, "project_id": str(project_id), **fields})


def post_id_of(page: Page) -> str:
    assert page.location is not None
    return page.location.split("/")[3].split("?")[0]


async def save(browser: Browser, post_id: str, **fields: str) -> Page:
    page = await browser.get("/dashboard/blog")
    return await browser.post(f"/dashboard/blog/{post_id}", {"csrf_token": page.csrf, **fields})


@pytest.fixture
async def blogs(alice: Browser, services: Services, make_user: MakeUser, other_browser: Browser) -> SimpleNamespace:
    """alice (signed in) has a public project ``songs`` and a private ``secret``; bob, another creator, is
    signed in on ``other_browser``."""
    pool = services.pool
    alice_id = await make_creator(pool, "alice")
    await make_user("bob")
    bob_id = await make_creator(pool, "bob")
    await sign_in(other_browser, "bob")
    return SimpleNamespace(
        songs=await make_project(pool, alice_id, "songs", title="Songs"),
        secret=await make_project(pool, alice_id, "secret", public=False),
        bob_game=await make_project(pool, bob_id, "game"),
        bob=other_browser,
    )


async def anonymous(client: Client, path: str, **headers: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(client.make_url(path), headers=headers)
        await response.read()
        return response


async def test_a_draft_is_seen_by_its_owner_only_until_published(
    alice: Browser, blogs: SimpleNamespace, client: Client
) -> None:
    created = await write(alice, blogs.songs, title="Hello, world!", body="First **post**.")
    assert created.status == 303
    location = created.location
    assert location is not None
    assert re.fullmatch(r"/dashboard/blog/[0-9a-f-]{36}\?saved=created", location)
    post_id = post_id_of(created)
    page = await alice.get(location)
    assert page.has("The post was created.")
    assert page.has("draft")

    url = "/blog/alice/songs/hello-world"
    mine = await alice.get(url)
    assert mine.status == 200
    assert mine.has("draft: only you can see it")
    assert "<strong>post</strong>" in mine.text
    assert mine.headers["Cache-Control"] == "private, no-cache"
    assert (await anonymous(client, url)).status == 404
    assert (await blogs.bob.get(url)).status == 404
    assert not (await blogs.bob.get("/blog/alice/songs")).has("Hello, world!")
    assert (await alice.get("/blog/alice/songs")).has("Hello, world!")

    published = await save(
        alice, post_id, title="Hello, world!", slug="hello-world", body="First **post**.", publish="on"
    )
    assert published.status == 303
    response = await anonymous(client, url)
    assert response.status == 200
    html = await response.text()
    assert '<meta property="og:title" content="Hello, world!">' in html
    assert '<meta property="og:description" content="First post.">' in html
    assert re.search(r'<meta property="og:url" content="http://[^"]+/blog/alice/songs/hello-world">', html)
    assert '<meta property="og:type" content="article">' in html
    assert "article:published_time" in html
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "public, no-cache"
    again = await anonymous(client, url, **{"If-None-Match": etag})
    assert again.status == 304
    listing = await anonymous(client, "/blog/alice/songs")
    assert "Hello, world!" in await listing.text()
    assert (await anonymous(client, "/blog/alice/songs", **{"If-None-Match": listing.headers["ETag"]})).status == 304

    # Unticking "published" makes it a draft again.
    await save(alice, post_id, title="Hello, world!", slug="hello-world", body="First **post**.")
    assert (await anonymous(client, url)).status == 404


async def test_markdown_is_sanitized_and_shows_media(alice: Browser, blogs: SimpleNamespace, client: Client) -> None:
    body = (
        "<script>alert(1)</script>\n\n**bold** <img src=x onerror=alert(2)> [x](javascript:alert(3))\n\n"
        "![Cover](/media/00000000-0000-0000-0000-000000000001/cover.png)"
    )
    await write(alice, blogs.songs, title="Tricks", body=body, publish="on")
    html = await (await anonymous(client, "/blog/alice/songs/tricks")).text()
    article = html[html.index('<div class="markdown">') :]
    assert "<script>alert" not in article
    assert "onerror" not in article
    assert 'href="javascript:' not in article
    assert "<strong>bold</strong>" in article
    assert '<img src="/media/00000000-0000-0000-0000-000000000001/cover.png" alt="Cover">' in article


async def test_bad_fields_and_duplicate_slugs_are_refused_on_the_form(
    alice: Browser, blogs: SimpleNamespace, services: Services
) -> None:
    assert (await write(alice, blogs.songs, title="One", slug="one")).status == 303
    duplicate = await write(alice, blogs.songs, title="Another", slug="one", body="kept")
    assert duplicate.status == 409
    assert duplicate.has("Another post of this project has the slug one.")
    assert duplicate.has("kept")
    # The same slug in another project is fine.
    assert (await write(alice, blogs.secret, title="One", slug="one")).status == 303
    for fields, message in (
        ({"title": ""}, "Give the post a title"),
        ({"title": "x" * 201}, "Give the post a title"),
        ({"title": "ok", "slug": "Not A Slug!"}, "A slug is 1 to 100"),
        ({"title": "ok", "slug": "../etc"}, "A slug is 1 to 100"),
        ({"title": "ok", "body": "\x00"}, "NUL"),
    ):
        refused = await write(alice, blogs.songs, **fields)
        assert refused.status == 422, fields
        assert refused.has(message)
    assert await services.pool.fetchval("SELECT count(*) FROM blog_posts") == 2
    # Renaming a post onto another's slug is refused too.
    other = await write(alice, blogs.songs, title="Two")
    post_id = post_id_of(other)
    renamed = await save(alice, post_id, title="Two", slug="one")
    assert renamed.status == 409


async def test_someone_elses_project_and_posts_are_not_found(
    alice: Browser, blogs: SimpleNamespace, services: Services, make_user: MakeUser
) -> None:
    created = await write(alice, blogs.songs, title="Mine", publish="on")
    post_id = post_id_of(created)
    bob = blogs.bob
    assert (await write(bob, blogs.songs, title="Intruder")).status == 404
    assert (await write(bob, "not-a-uuid", title="Intruder")).status == 404
    assert (await bob.get(f"/dashboard/blog/{post_id}")).status == 404
    assert (await save(bob, post_id, title="Defaced")).status == 404
    assert (await bob.get(f"/dashboard/blog/{post_id}/delete")).status == 404
    page = await bob.get("/dashboard/blog")
    assert (await bob.post(f"/dashboard/blog/{post_id}/delete", {"csrf_token": page.csrf})).status == 404
    assert not page.has("Mine")
    assert await services.pool.fetchval("SELECT title FROM blog_posts") == "Mine"

    await bob.client.post("/logout", data={"csrf_token": page.csrf})
    await make_user("carol")
    await sign_in(bob, "carol")
    assert (await bob.get("/dashboard/blog")).status == 403


async def test_a_private_projects_posts_are_hidden_and_deleting_asks_first(
    alice: Browser, blogs: SimpleNamespace, client: Client, services: Services
) -> None:
    created = await write(alice, blogs.secret, title="Secret plans", publish="on")
    post_id = post_id_of(created)
    assert (await anonymous(client, "/blog/alice/secret/secret-plans")).status == 404
    assert (await anonymous(client, "/blog/alice/secret")).status == 404
    assert (await anonymous(client, "/blog/nobody/secret")).status == 404
    assert (await alice.get("/blog/alice/secret/secret-plans")).status == 200

    confirm = await alice.get(f"/dashboard/blog/{post_id}/delete")
    assert confirm.has("Delete the post Secret plans?")
    done = await alice.post(f"/dashboard/blog/{post_id}/delete", {"csrf_token": confirm.csrf})
    assert done.location == "/dashboard/blog?saved=deleted"
    assert await services.pool.fetchval("SELECT count(*) FROM blog_posts") == 0
    assert (await alice.get("/dashboard/blog?saved=deleted")).has("The post was deleted.")
