"""The apps registry and the operator functions (mnwd.apps)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import pytest

from mnwd.apps import operators
from mnwd.apps import registry as apps
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import Services
from tests.support.accounts import MakeUser
from tests.support.sync import REDIRECT, insert_item, insert_project


@pytest.fixture
async def maker_id(make_user: MakeUser) -> uuid.UUID:
    user = await make_user("maker", can_create_projects=True)
    user_id: uuid.UUID = user["id"]
    return user_id


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.value.extra["errors"]}


async def test_create_keeps_only_the_hash_and_the_key_finds_the_app(pool: asyncpg.Pool, maker_id: uuid.UUID) -> None:
    issued = await apps.create_app(
        pool,
        creator_id=maker_id,
        name="  Notes  ",
        slug="notes",
        redirect_uris=[REDIRECT, "http://127.0.0.1/cb", REDIRECT],
    )
    assert issued.api_key.startswith("mnwd_sk_")
    assert len(issued.api_key) == 8 + 43
    assert issued.api_key not in repr(issued)
    app = issued.app
    assert app == apps.App(
        id=app.id,
        creator_id=maker_id,
        creator_username="maker",
        name="Notes",
        slug="notes",
        redirect_uris=(REDIRECT, "http://127.0.0.1/cb"),
        is_active=True,
    )
    row = await pool.fetchrow("SELECT api_key_hash, api_key_prefix FROM sync_apps WHERE id = $1", app.id)
    assert row["api_key_hash"] == hashlib.sha256(issued.api_key.encode()).digest()
    assert row["api_key_prefix"] == issued.api_key[:12]
    assert issued.api_key not in await pool.fetchval("SELECT row_to_json(a)::text FROM sync_apps a")
    assert await apps.get_app(pool, app.id) == app
    assert await apps.get_app_by_api_key(pool, issued.api_key) == app
    assert await apps.get_app_by_slug(pool, "NOTES") == app


@pytest.mark.parametrize(
    "key",
    ["", "mnwd_sk_", "mnwd_sk_" + "A" * 43, "sk_live_whatever", "mnwd_sk_" + "x" * 5000],
)
async def test_unknown_keys_find_nothing(pool: asyncpg.Pool, maker_id: uuid.UUID, key: str) -> None:
    await apps.create_app(pool, creator_id=maker_id, name="Notes", slug="notes", redirect_uris=[REDIRECT])
    assert await apps.get_app_by_api_key(pool, key) is None


async def test_unknown_app_ids(pool: asyncpg.Pool) -> None:
    missing = uuid.uuid4()
    assert await apps.get_app(pool, missing) is None
    for change in (
        apps.rotate_api_key(pool, missing),
        apps.set_active(pool, missing, False),
        apps.update_app(pool, missing, name="x", redirect_uris=[REDIRECT]),
    ):
        with pytest.raises(NotFound):
            await change


async def test_every_problem_is_reported_at_once(pool: asyncpg.Pool, maker_id: uuid.UUID) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await apps.create_app(
            pool,
            creator_id=maker_id,
            name="",
            slug="A",
            redirect_uris=["http://localhost/cb"],
            project_id="not-an-id",
            item_id="nope",
        )
    assert set(errors_of(exc)) == {"name", "slug", "redirect_uris", "project_id", "item_id"}
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 0


async def test_two_creators_racing_for_one_slug(pool: asyncpg.Pool, make_user: MakeUser) -> None:
    """The slug check and the insert can interleave; the unique constraint still names the slug."""
    ids = [(await make_user(name, can_create_projects=True))["id"] for name in ("ann", "bob", "cid", "dan")]
    results = await asyncio.gather(
        *(apps.create_app(pool, creator_id=i, name="Notes", slug="notes", redirect_uris=[REDIRECT]) for i in ids),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, apps.IssuedKey)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(made) == 1
    assert len(refused) == 3
    for problem in refused:
        assert problem.extra["errors"] == [{"field": "slug", "message": "This slug is taken."}]


async def test_projects_and_items_must_be_the_creators(
    pool: asyncpg.Pool, maker_id: uuid.UUID, make_user: MakeUser
) -> None:
    other = (await make_user("other", can_create_projects=True))["id"]
    mine = await insert_project(pool, maker_id)
    my_item = await insert_item(pool, mine)
    theirs = await insert_project(pool, other)
    their_item = await insert_item(pool, theirs)
    my_other_project = await insert_project(pool, maker_id, "second")

    linked = await apps.create_app(
        pool, creator_id=maker_id, name="A", slug="by-item", redirect_uris=[REDIRECT], item_id=str(my_item)
    )
    row = await pool.fetchrow("SELECT project_id, item_id FROM sync_apps WHERE id = $1", linked.app.id)
    assert (row["project_id"], row["item_id"]) == (mine, my_item)

    for kwargs, field, message in (
        ({"project_id": theirs}, "project_id", "There is no such project."),
        ({"project_id": uuid.uuid4()}, "project_id", "There is no such project."),
        ({"item_id": their_item}, "item_id", "There is no such item."),
        ({"project_id": my_other_project, "item_id": my_item}, "item_id", "This item is not in that project."),
    ):
        with pytest.raises(ValidationFailed) as exc:
            await apps.create_app(pool, creator_id=maker_id, name="B", slug="bee", redirect_uris=[REDIRECT], **kwargs)
        assert errors_of(exc) == {field: message}
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 1


async def test_rotate_update_and_deactivate(pool: asyncpg.Pool, maker_id: uuid.UUID) -> None:
    issued = await apps.create_app(pool, creator_id=maker_id, name="Notes", slug="notes", redirect_uris=[REDIRECT])
    rotated = await apps.rotate_api_key(pool, issued.app.id)
    assert rotated.api_key != issued.api_key
    assert await apps.get_app_by_api_key(pool, issued.api_key) is None
    assert await apps.get_app_by_api_key(pool, rotated.api_key) == issued.app

    updated = await apps.update_app(pool, issued.app.id, name="Notes 2", redirect_uris=["com.example.notes:/cb"])
    assert (updated.name, updated.redirect_uris) == ("Notes 2", ("com.example.notes:/cb",))
    with pytest.raises(ValidationFailed) as exc:
        await apps.update_app(pool, issued.app.id, name="x" * 101, redirect_uris=[])
    assert set(errors_of(exc)) == {"name", "redirect_uris"}

    assert not (await apps.set_active(pool, issued.app.id, False)).is_active
    assert await apps.get_app_by_api_key(pool, rotated.api_key) is None
    found = await apps.get_app(pool, issued.app.id)
    assert found is not None
    assert not found.is_active
    assert (await apps.set_active(pool, issued.app.id, True)).is_active
    assert await apps.get_app_by_api_key(pool, rotated.api_key) is not None


async def test_operator_functions(services: Services, make_user: MakeUser) -> None:
    await make_user("maker")
    issued = await operators.create_app_for(services, " Maker ", name="Notes", slug="notes", redirect_uris=[REDIRECT])
    assert issued.app.creator_username == "maker"
    rotated = await operators.rotate_key(services, "notes")
    assert await apps.get_app_by_api_key(services.pool, issued.api_key) is None
    assert await apps.get_app_by_api_key(services.pool, rotated.api_key) == issued.app
    assert not (await operators.set_app_active(services, "notes", False)).is_active
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        await operators.create_app_for(services, "nobody", name="N", slug="n2", redirect_uris=[REDIRECT])
    with pytest.raises(NotFound, match="no app with the slug 'ghost'"):
        await operators.rotate_key(services, "ghost")
