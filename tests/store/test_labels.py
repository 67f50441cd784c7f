"""Labels over HTTP: the seeded list, the admin pages at /admin/labels, PUT /api/v1/projects/{id}/labels for the
project's creator, the badges macro and the label filter of search."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from mnwd.store.labels import Label
from mnwd.web.pages import TEMPLATES
from tests.store.catalog_rows import label_project, make_item, make_project
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

Client = TestClient[Any, web.Application]


async def _labels_of(pool: asyncpg.Pool, project_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT l.slug FROM project_labels pl JOIN labels l ON l.id = pl.label_id WHERE pl.project_id = $1 "
        "ORDER BY l.slug",
        project_id,
    )
    return [r["slug"] for r in rows]


async def test_three_labels_come_with_mnwd(client: Client) -> None:
    body = await (await client.get("/api/v1/labels")).json()
    assert [(label["slug"], label["name"]) for label in body["labels"]] == [
        ("drm-free", "DRM-free"),
        ("no-ai-training", "No AI training"),
        ("open-source", "Open source"),
    ]
    assert all(label["definition"] and label["examples"] for label in body["labels"])


@pytest.fixture
async def admin(browser: Browser, make_user: MakeUser) -> Browser:
    await make_user("curator", is_admin=True)
    await sign_in(browser, "curator")
    return browser


async def test_an_admin_creates_edits_and_deletes_a_label(
    admin: Browser, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    made = await admin.submit(
        "/admin/labels",
        "/admin/labels",
        {
            "display_name": "Lossless audio",
            "slug": "lossless",
            "definition": "FLAC or WAV downloads.",
            "examples": "FLAC album\n\nWAV stems\n",
            "nonexamples": "MP3 only",
            "sort_order": "40",
        },
    )
    assert made.status == 303
    row = await pool.fetchrow("SELECT * FROM labels WHERE slug = 'lossless'")
    assert row["examples"] == ["FLAC album", "WAV stems"]
    assert row["nonexamples"] == ["MP3 only"]
    page = await admin.get("/admin/labels")
    assert page.has("Lossless audio")
    saved = await admin.post(
        f"/admin/labels/{row['id']}",
        {
            "display_name": "Lossless",
            "slug": "ignored",
            "definition": "FLAC, ALAC or WAV.",
            "examples": "",
            "nonexamples": "",
            "sort_order": "5",
            "csrf_token": page.csrf,
        },
    )
    assert saved.status == 303
    edited = await pool.fetchrow("SELECT * FROM labels WHERE id = $1", row["id"])
    assert (edited["slug"], edited["display_name"], edited["sort_order"]) == ("lossless", "Lossless", 5)
    maker = await make_user("maker", can_create_projects=True)
    project = await make_project(pool, maker["id"], "album", "Album", project_type="music")
    await label_project(pool, project, "lossless")
    confirm = await admin.get(f"/admin/labels/{row['id']}/delete")
    assert confirm.has("1 projects lose it")
    deleted = await admin.post(f"/admin/labels/{row['id']}/delete", {"csrf_token": confirm.csrf})
    assert deleted.status == 303
    assert await _labels_of(pool, project) == []


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"display_name": "Dup", "slug": "drm-free", "definition": "x"}, "slug"),
        ({"display_name": "", "slug": "empty", "definition": "x"}, "display_name"),
        ({"display_name": "No definition", "slug": "nodef", "definition": "  "}, "definition"),
        ({"display_name": "Bad", "slug": "../x", "definition": "x"}, "slug"),
        ({"display_name": "Bad order", "slug": "order", "definition": "x", "sort_order": "ten"}, "sort_order"),
        ({"display_name": "Many", "slug": "many", "definition": "x", "examples": "a\n" * 11}, "examples"),
        ({"display_name": "Ctl\x07", "slug": "ctl", "definition": "x"}, "display_name"),
    ],
)
async def test_bad_labels_are_refused(admin: Browser, pool: asyncpg.Pool, form: dict[str, str], field: str) -> None:
    page = await admin.submit("/admin/labels", "/admin/labels", {"examples": "", "nonexamples": "", **form})
    assert page.status == 422
    assert page.has("The label was not created.")
    assert await pool.fetchval("SELECT count(*) FROM labels") == 3
    if field in {"slug", "display_name", "definition", "sort_order"}:
        assert f'id="{field}-error"' in page.text


async def test_only_admins_manage_labels(browser: Browser, make_user: MakeUser) -> None:
    await make_user("maker", can_create_projects=True)
    await sign_in(browser, "maker")
    assert (await browser.get("/admin/labels")).status == 403


@pytest.fixture
async def projects(make_user: MakeUser, pool: asyncpg.Pool, services: Services) -> dict[str, Any]:
    maker = await make_user("maker", can_create_projects=True)
    other = await make_user("other", can_create_projects=True)
    mine = await make_project(pool, maker["id"], "tools", "Tools")
    await make_item(pool, mine, "water", "Water shaders")
    theirs = await make_project(pool, other["id"], "theirs", "Theirs")
    token = await create_token(services, maker["id"], name="t", scopes=["store:write"], expires_days=None)
    return {"mine": mine, "theirs": theirs, "token": token.secret}


async def _put_labels(client: Client, token: str, project_id: Any, body: Any) -> tuple[int, Any]:
    response = await client.put(
        f"/api/v1/projects/{project_id}/labels", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status, await response.json()


async def test_the_creator_sets_the_labels_and_search_filters_by_them(
    client: Client, pool: asyncpg.Pool, projects: dict[str, Any]
) -> None:
    status, body = await _put_labels(
        client, projects["token"], projects["mine"], {"labels": ["open-source", "drm-free"]}
    )
    assert status == 200, body
    assert [label["slug"] for label in body["labels"]] == ["open-source", "drm-free"]
    assert await _labels_of(pool, projects["mine"]) == ["drm-free", "open-source"]
    found = await (await client.get("/api/v1/search", params={"q": "water", "label": "drm-free"})).json()
    assert [i["title"] for i in found["items"]] == ["Water shaders"]
    assert found["items"][0]["labels"] == ["drm-free", "open-source"]
    both = await client.get("/api/v1/search?q=water&label=drm-free&label=no-ai-training")
    assert (await both.json())["items"] == []
    status, body = await _put_labels(client, projects["token"], projects["mine"], {"labels": []})
    assert status == 200
    assert await _labels_of(pool, projects["mine"]) == []


@pytest.mark.parametrize(
    "body",
    [
        {"labels": ["no-such-label"]},
        {"labels": "drm-free"},
        {"labels": [None]},
        {"label": []},
        {},
        {"labels": ["x"] * 21},
    ],
)
async def test_bad_label_lists_change_nothing(
    client: Client, pool: asyncpg.Pool, projects: dict[str, Any], body: Any
) -> None:
    await label_project(pool, projects["mine"], "drm-free")
    status, problem = await _put_labels(client, projects["token"], projects["mine"], body)
    assert status == 422, problem
    assert await _labels_of(pool, projects["mine"]) == ["drm-free"]


async def test_someone_elses_project_is_not_found(client: Client, pool: asyncpg.Pool, projects: dict[str, Any]) -> None:
    status, problem = await _put_labels(client, projects["token"], projects["theirs"], {"labels": ["drm-free"]})
    assert status == 404
    assert problem["type"].endswith("/not-found")
    assert await _labels_of(pool, projects["theirs"]) == []
    status, _ = await _put_labels(client, projects["token"], "nope", {"labels": ["drm-free"]})
    assert status == 404


async def test_the_badges_macro_links_each_label_to_its_search(client: Client) -> None:
    env = client.app[TEMPLATES]
    macro = env.from_string('{% from "store/_labels.html" import label_badges %}{{ label_badges(labels) }}')
    label = Label(uuid.uuid4(), "drm-free", "DRM-free", 'No "DRM" <ever>', [], [], 0)
    html = await macro.render_async(labels=[label])
    assert '<a class="badge" href="/search?label=drm-free" title="No &#34;DRM&#34; &lt;ever&gt;">DRM-free</a>' in html
    assert (await macro.render_async(labels=[])).strip() == ""
