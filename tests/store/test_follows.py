"""Follows of users, projects and tags (forms, ``/api/v1/follows``), the follow button, and ``/feed``."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import aiohttp
import pytest

from mnwd.app import create_app
from mnwd.services import Services
from mnwd.web.pages import TEMPLATES
from tests.store.social_support import (
    PROBLEM,
    Client,
    bearer,
    make_creator,
    make_item,
    make_project,
    make_tag,
    make_version,
    token,
)
from tests.support.accounts import MakeUser
from tests.support.browser import Browser

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def follow(browser: Browser, target_type: str, target_id: uuid.UUID, next_path: str = "/feed") -> int:
    page = await browser.get("/feed")
    posted = await browser.post(
        "/follow",
        {"csrf_token": page.csrf, "target_type": target_type, "target_id": str(target_id), "next": next_path},
    )
    return posted.status


@pytest.fixture
async def world(alice: Browser, services: Services, make_user: MakeUser) -> SimpleNamespace:
    """bob and carol create; dave's item is tagged music.ambient; alice (signed in) follows nothing yet."""
    pool = services.pool
    for name in ("bob", "carol", "dave"):
        await make_user(name)
    bob, carol, dave = [await make_creator(pool, n) for n in ("bob", "carol", "dave")]
    w = SimpleNamespace(bob=bob, carol=carol, dave=dave)
    w.bob_songs = await make_project(pool, bob, "songs")
    w.bob_secret = await make_project(pool, bob, "secret", public=False)
    w.carol_game = await make_project(pool, carol, "game")
    w.carol_other = await make_project(pool, carol, "other")
    w.dave_art = await make_project(pool, dave, "art")
    w.song = await make_item(pool, w.bob_songs, "song", created_at=at(1))
    await make_version(pool, w.song, "1.0", created_at=at(2))
    await make_version(pool, w.song, "1.1", created_at=at(5))
    await make_item(pool, w.bob_songs, "draft-song", public=False, created_at=at(3))
    await make_item(pool, w.bob_secret, "hidden", created_at=at(4))
    w.level = await make_item(pool, w.carol_game, "level", created_at=at(6))
    await make_item(pool, w.carol_other, "unfollowed", created_at=at(7))
    w.music = await make_tag(pool, "music")
    ambient = await make_tag(pool, "ambient", w.music)
    w.drone = await make_item(pool, w.dave_art, "drone", created_at=at(8))
    await pool.execute("INSERT INTO item_tags (item_id, tag_id, is_primary) VALUES ($1, $2, true)", w.drone, ambient)
    await pool.execute(
        "INSERT INTO blog_posts (project_id, author_id, title, slug, body_markdown, published_at, created_at) "
        "VALUES ($1, $2, 'Devlog one', 'devlog-one', 'What we did', $3, $3), "
        "($1, $2, 'Unpublished', 'unpublished', 'secret', NULL, $3)",
        w.bob_songs,
        bob,
        at(9),
    )
    return w


async def test_following_fills_the_feed_with_public_releases_newest_first(
    alice: Browser, world: SimpleNamespace
) -> None:
    page = await alice.get("/feed")
    assert page.status == 200
    assert page.has("Nothing yet.")

    assert await follow(alice, "user", world.bob) == 303
    assert await follow(alice, "project", world.carol_game) == 303
    assert await follow(alice, "tag", world.music) == 303

    page = await alice.get("/feed")
    titles = re.findall(r'<a href="([^"]+)">([^<]+)</a> <span class="badge">([^<]+)</span>', page.text)
    assert titles == [
        ("/blog/bob/songs/devlog-one", "Devlog one", "blog post"),
        ("/@dave/art/drone", "Drone", "new item"),
        ("/@carol/game/level", "Level", "new item"),
        ("/@bob/songs/song", "Song 1.1", "new version"),
        ("/@bob/songs/song", "Song 1.0", "new version"),
        ("/@bob/songs/song", "Song", "new item"),
    ]
    for hidden in ("Draft-Song", "Hidden", "Unfollowed", "Unpublished"):
        assert not page.has(hidden)
    # What alice follows is listed, each with its unfollow button.
    assert page.has("@bob") or page.has("bob")
    assert page.text.count('action="/unfollow"') == 3


async def test_the_feed_pages_by_cursor_without_repeats_or_gaps(
    alice: Browser, world: SimpleNamespace, services: Services, client: Client
) -> None:
    for kind, target in (("user", world.bob), ("project", world.carol_game), ("tag", world.music)):
        assert await follow(alice, kind, target) == 303
    secret = await token(services, "alice", "follows:read")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "?limit=2" + (f"&before={cursor}" if cursor else "")
        doc = await (await client.get("/api/v1/feed" + query, headers=bearer(secret))).json()
        seen += [e["title"] + (e["version_number"] or "") for e in doc["entries"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Devlog one", "Drone", "Level", "Song1.1", "Song1.0", "Song"]

    first = await alice.get("/feed")
    assert 'id="older"' not in first.text  # six entries fit on one page
    bad = await client.get("/api/v1/feed?before=garbage", headers=bearer(secret))
    assert bad.status == 400
    assert (await alice.get("/feed?before=12_not-a-uuid")).status == 400


async def test_unfollow_with_the_button_and_twice_following_changes_nothing(
    alice: Browser, world: SimpleNamespace, services: Services
) -> None:
    assert await follow(alice, "project", world.carol_game) == 303
    assert await follow(alice, "project", world.carol_game) == 303
    count = await services.pool.fetchval("SELECT count(*) FROM follows")
    assert count == 1
    page = await alice.get("/feed")
    form = re.search(r'<form method="post" action="/unfollow".*?</form>', page.text, re.S)
    assert form
    assert str(world.carol_game) in form.group(0)
    done = await alice.post(
        "/unfollow",
        {"csrf_token": page.csrf, "target_type": "project", "target_id": str(world.carol_game), "next": "/feed"},
    )
    assert done.status == 303
    assert await services.pool.fetchval("SELECT count(*) FROM follows") == 0
    assert (await alice.get("/feed")).has("You follow nothing yet.")


async def test_what_cannot_be_followed(
    alice: Browser, world: SimpleNamespace, services: Services, client: Client
) -> None:
    alice_id = await services.pool.fetchval("SELECT id FROM users WHERE username = 'alice'")
    assert await follow(alice, "user", alice_id) == 422
    assert await follow(alice, "project", world.bob_secret) == 404  # someone else's private project
    assert await follow(alice, "project", uuid.uuid4()) == 404
    assert await follow(alice, "tag", world.bob) == 404  # a user's id as a tag
    page = await alice.get("/feed")
    for target_type, target_id in (("repo", str(world.bob)), ("user", "not-a-uuid"), ("user", "")):
        posted = await alice.post(
            "/follow", {"csrf_token": page.csrf, "target_type": target_type, "target_id": target_id}
        )
        assert posted.status == 404
    # A next that leaves the site goes to the feed instead.
    posted = await alice.post(
        "/follow",
        {"csrf_token": page.csrf, "target_type": "user", "target_id": str(world.bob), "next": "//evil.example/x"},
    )
    assert posted.location == "/feed"
    no_token = await alice.post("/follow", {"target_type": "user", "target_id": str(world.dave)})
    assert no_token.status == 403
    assert await services.pool.fetchval("SELECT count(*) FROM follows") == 1


async def test_the_follows_api(alice: Browser, world: SimpleNamespace, services: Services, client: Client) -> None:
    writer = await token(services, "alice", "follows:write")
    reader = await token(services, "alice", "follows:read")
    body = {"target_type": "user", "target_id": str(world.bob)}
    assert (await client.post("/api/v1/follows", json=body, headers=bearer(reader))).status == 403
    first = await client.post("/api/v1/follows", json=body, headers=bearer(writer))
    assert first.status == 201
    again = await client.post("/api/v1/follows", json=body, headers=bearer(writer))
    assert again.status == 200
    bad = await client.post("/api/v1/follows", json={"target_type": "user"}, headers=bearer(writer))
    assert bad.status == 422
    listed = await (await client.get("/api/v1/follows", headers=bearer(reader))).json()
    assert [(f["target_type"], f["name"], f["url"]) for f in listed["follows"]] == [("user", "bob", "/@bob")]
    gone = await client.delete(f"/api/v1/follows/user/{world.bob}", headers=bearer(writer))
    assert gone.status == 204
    again = await client.delete(f"/api/v1/follows/user/{world.bob}", headers=bearer(writer))
    assert again.status == 404
    assert (await again.json())["type"] == PROBLEM + "not-found"
    async with aiohttp.ClientSession() as stranger:
        assert (await stranger.get(client.make_url("/api/v1/feed"))).status == 401


async def test_the_follow_button_macro(services: Services, world: SimpleNamespace) -> None:
    env = create_app(services)[TEMPLATES]
    template = env.from_string(
        '{% from "store/feed_follow.html" import follow_button with context %}'
        '{{ follow_button("project", pid, following, name="Game") }}'
    )
    signed_in = {"viewer": SimpleNamespace(username="alice"), "csrf_token": lambda: "tok", "path": "/@carol/game"}
    html = await template.render_async(pid=world.carol_game, following=False, **signed_in)
    assert 'action="/follow"' in html
    assert f'value="{world.carol_game}"' in html
    assert 'aria-label="Follow Game"' in html
    assert 'name="next" value="/@carol/game"' in html
    html = await template.render_async(pid=world.carol_game, following=True, **signed_in)
    assert 'action="/unfollow"' in html
    assert ">Unfollow<" in html
    html = await template.render_async(pid=world.carol_game, following=False, viewer=None, csrf_token=None, path="/x")
    assert 'href="/login?next=/x"' in html
    assert "<form" not in html


async def test_the_feed_asks_to_sign_in(client: Client) -> None:
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(client.make_url("/feed"), allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/login?next=/feed"
