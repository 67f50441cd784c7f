"""Reports of blog posts and collections: the report links on their pages, the form, what may be reported
(what the reporter can see), and the admins' queue naming them. Also the collection page's sharing tags."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import asyncpg
import pytest

from mnwd.services import Services
from tests.store.social_support import Client, make_creator, make_project
from tests.store.test_collections import anonymous
from tests.store.test_reports import form_path, send
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


async def _post(pool: asyncpg.Pool, project: uuid.UUID, author: uuid.UUID, slug: str, *, live: bool) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO blog_posts (project_id, author_id, title, slug, body_markdown, body_html, published_at) "
        "VALUES ($1, $2, $3, $4, 'Text', '<p>Text</p>', CASE WHEN $5 THEN now() - interval '1 minute' END) "
        "RETURNING id",
        project,
        author,
        slug.title(),
        slug,
        live,
    )
    return value


async def _collection(pool: asyncpg.Pool, owner: uuid.UUID, title: str, *, public: bool) -> uuid.UUID:
    value: uuid.UUID = await pool.fetchval(
        "INSERT INTO collections (user_id, title, slug, description, is_public) "
        "VALUES ($1, $2, lower($2), 'Things I like', $3) RETURNING id",
        owner,
        title,
        public,
    )
    return value


@pytest.fixture
async def site(alice: Browser, services: Services, make_user: MakeUser, other_browser: Browser) -> SimpleNamespace:
    """bob has a public project with a published post and a draft, a private project with a post, a public
    and a private collection; alice is signed in; ``mod`` is an admin on ``other_browser``."""
    pool = services.pool
    await make_user("bob")
    bob = await make_creator(pool, "bob")
    await make_user("mod", is_admin=True)
    await sign_in(other_browser, "mod")
    songs = await make_project(pool, bob, "songs")
    hidden = await make_project(pool, bob, "hidden", public=False)
    return SimpleNamespace(
        bob=bob,
        post=await _post(pool, songs, bob, "devlog", live=True),
        draft=await _post(pool, songs, bob, "draft", live=False),
        hidden_post=await _post(pool, hidden, bob, "secret", live=True),
        faves=await _collection(pool, bob, "Faves", public=True),
        private=await _collection(pool, bob, "Mine", public=False),
        root=other_browser,
    )


async def test_a_blog_post_and_a_collection_are_reported_and_queued(
    alice: Browser, site: SimpleNamespace, client: Client
) -> None:
    post_page = await anonymous(client, "/blog/bob/songs/devlog")
    assert f'href="/report?target_type=blog_post&amp;target_id={site.post}"' in await post_page.text()
    shelf = await alice.get(f"/collections/{site.faves}")
    assert shelf.has(f'href="/report?target_type=collection&target_id={site.faves}"')

    form = await alice.get(form_path("blog_post", site.post))
    assert form.status == 200
    assert form.has("Report this blog post")
    assert form.has('You are reporting <a href="/blog/bob/songs/devlog">Devlog</a>.')
    sent = await send(alice, "blog_post", site.post, reason="spam", details="Ads for pills")
    assert sent.status == 303
    assert (await alice.get(sent.location)).has("Thank you: your report was sent.")  # type: ignore[arg-type]
    assert (await send(alice, "blog_post", site.post, reason="other")).status == 409

    form = await alice.get(form_path("collection", site.faves))
    assert form.has("Report this collection")
    assert (await send(alice, "collection", site.faves, reason="harassment")).status == 303

    queue = await site.root.get("/admin/reports")
    assert queue.has('<span class="badge">blog post</span>')
    assert queue.has('<a href="/blog/bob/songs/devlog">Devlog</a> by @bob')
    assert queue.has('<span class="badge">collection</span>')
    assert queue.has(f'<a href="/collections/{site.faves}">Faves</a> by @bob')
    assert queue.has("Ads for pills")


async def test_what_the_reporter_cannot_see_is_not_found(
    alice: Browser, site: SimpleNamespace, services: Services
) -> None:
    for target_type, target_id in [
        ("blog_post", site.draft),
        ("blog_post", site.hidden_post),
        ("blog_post", uuid.uuid4()),
        ("collection", site.private),
        ("collection", "not-an-id"),
        ("blog_post", site.faves),  # a collection's id as a post's
        ("git_repo", site.faves),
    ]:
        assert (await alice.get(form_path(target_type, target_id))).status == 404, target_type
        assert (await send(alice, target_type, target_id, reason="spam")).status == 404, target_type
    assert await services.pool.fetchval("SELECT count(*) FROM reports") == 0


async def test_owners_see_no_report_link_and_a_deleted_target_shows_as_deleted(
    alice: Browser, site: SimpleNamespace, services: Services, other_browser: Browser
) -> None:
    assert (await send(alice, "collection", site.faves, reason="spam")).status == 303
    await services.pool.execute("DELETE FROM collections WHERE id = $1", site.faves)
    assert (await site.root.get("/admin/reports")).has("(deleted)")
    await sign_in(other_browser, "bob")
    own = await other_browser.get("/blog/bob/songs/devlog")
    assert own.status == 200
    assert 'id="report-link"' not in own.text
    own_private = await other_browser.get(f"/collections/{site.private}")
    assert 'id="report-link"' not in own_private.text


async def test_a_public_collection_page_has_sharing_tags_and_a_304(site: SimpleNamespace, client: Client) -> None:
    shared = await anonymous(client, f"/collections/{site.faves}")
    assert shared.status == 200
    html = await shared.text()
    assert '<meta property="og:title" content="Faves">' in html
    assert '<meta property="og:description" content="Things I like">' in html
    assert f'/collections/{site.faves}">' in html
    assert '<meta property="og:url" content="http' in html
    assert '<link rel="canonical" href="http' in html
    assert shared.headers["Cache-Control"].startswith("public")
    again = await anonymous(client, f"/collections/{site.faves}", **{"If-None-Match": shared.headers["ETag"]})
    assert again.status == 304
    assert (await anonymous(client, f"/collections/{site.private}")).status == 404
