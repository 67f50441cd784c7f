"""Creator tier limits where files and objects are made: store file versions (the 1-byte-over upload refused,
the one at the limit kept), a downgrade (old files stay readable, new uploads refused), the largest-file
override, grandfathering, SyncKit apps and OTA artifact storage. Each refusal names the limit and the tier
that lifts it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.apps.registry import create_app
from mnwd.errors import PayloadTooLarge
from mnwd.tiers import GB, TIER_LIMITS, TierLimitReached, check_stored
from tests.platform.clients import Api
from tests.support.accounts import MakeUser
from tests.support.oauth import register_app

BASIC_STORAGE = TIER_LIMITS["basic"].storage_bytes


async def _item(api: Api) -> dict[str, Any]:
    project = await api.project("tools")
    return await api.item(project["id"], "app")


async def _used(pool: asyncpg.Pool, username: str, used: int) -> None:
    await pool.execute("UPDATE users SET storage_used_bytes = $1 WHERE username = $2", used, username)


async def test_the_upload_one_byte_over_is_refused_and_the_one_at_the_limit_kept(
    maker_api: Api,
    pool: asyncpg.Pool,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    item = await _item(maker_api)
    await _used(pool, "maker", BASIC_STORAGE - 100)
    status, problem = await maker_api.put_file(item["id"], b"x" * 101, "version=1")
    assert status == 413, problem
    assert problem["limit"] == BASIC_STORAGE
    assert problem["tier"] == "basic"
    assert problem["lifting_tier"] == "small_files"
    assert "basic tier" in problem["detail"]
    assert "small_files tier" in problem["detail"]
    assert await pool.fetchval("SELECT count(*) FROM versions") == 0
    status, _ = await maker_api.put_file(item["id"], b"y" * 100, "version=1")
    assert status == 201
    assert await pool.fetchval("SELECT storage_used_bytes FROM users WHERE username = 'maker'") == BASIC_STORAGE


async def test_a_downgrade_keeps_old_files_readable_and_refuses_new_uploads(
    maker_api: Api,
    pool: asyncpg.Pool,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    await pool.execute("UPDATE users SET creator_tier = 'small_files' WHERE username = 'maker'")
    item = await _item(maker_api)
    await _used(pool, "maker", 5 * GB)  # over basic's 1 GB, under small_files' 10 GB
    data = b"kept bytes " * 100
    assert (await maker_api.put_file(item["id"], data, "version=1"))[0] == 201
    await pool.execute("UPDATE users SET creator_tier = 'basic' WHERE username = 'maker'")
    async with client.get("/@maker/tools/app/download") as response:
        assert response.status == 200
        assert await response.read() == data
    status, problem = await maker_api.put_file(item["id"], b"new", "version=2")
    assert status == 413
    assert (problem["tier"], problem["lifting_tier"]) == ("basic", "small_files")
    assert await pool.fetchval("SELECT count(*) FROM versions") == 1


async def test_grandfathered_creators_have_the_top_tier_until_the_date(maker_api: Api, pool: asyncpg.Pool) -> None:
    item = await _item(maker_api)
    await _used(pool, "maker", BASIC_STORAGE)
    await pool.execute("UPDATE users SET grandfathered_until = now() + interval '1 day' WHERE username = 'maker'")
    assert (await maker_api.put_file(item["id"], b"z" * 10, "version=1"))[0] == 201
    await pool.execute("UPDATE users SET grandfathered_until = now() - interval '1 second' WHERE username = 'maker'")
    status, problem = await maker_api.put_file(item["id"], b"z" * 10, "version=2")
    assert status == 413
    assert problem["tier"] == "basic"


def test_the_override_raises_the_largest_file_only() -> None:
    basic = TIER_LIMITS["basic"].largest_file_bytes
    with pytest.raises(PayloadTooLarge) as refused:
        check_stored("basic", None, 0, basic + 1, "storage_bytes", "storage")
    assert refused.value.extra["lifting_tier"] == "small_files"
    check_stored("basic", None, 0, basic, "storage_bytes", "storage")
    check_stored("basic", basic + 1, 0, basic + 1, "storage_bytes", "storage")
    with pytest.raises(PayloadTooLarge):
        check_stored("basic", 2 * GB, 0, 2 * GB, "storage_bytes", "storage")  # past basic's 1 GB storage


async def test_a_tier_caps_synckit_apps(make_user: MakeUser, pool: asyncpg.Pool) -> None:
    maker = await make_user("maker", can_create_projects=True)
    limit = TIER_LIMITS["basic"].max_sync_apps
    for n in range(limit):
        await create_app(
            pool, creator_id=maker["id"], name=f"App {n}", slug=f"app-{n}", redirect_uris=["https://example.org/cb"]
        )
    with pytest.raises(TierLimitReached) as refused:
        await create_app(
            pool, creator_id=maker["id"], name="One more", slug="one-more", redirect_uris=["https://example.org/cb"]
        )
    assert refused.value.status == 403
    assert refused.value.extra == {"limit": limit, "tier": "basic", "lifting_tier": "small_files"}
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == limit
    await pool.execute("UPDATE users SET creator_tier = 'small_files' WHERE id = $1", maker["id"])
    await create_app(
        pool, creator_id=maker["id"], name="One more", slug="one-more", redirect_uris=["https://example.org/cb"]
    )


async def test_ota_artifacts_count_against_the_tiers_ota_storage(
    client: TestClient,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    app = await register_app(pool, maker["id"], slug="notes")
    auth = {"Authorization": f"Bearer {app.api_key}"}
    response = await client.post("/ota/v1/notes/releases", json={"version": "1.0.0"}, headers=auth)
    assert response.status == 201

    async def upload(data: bytes, *, target: str = "linux", status: int = 201) -> dict[str, Any]:
        path = f"/ota/v1/notes/releases/1.0.0/artifacts/{target}/x86_64"
        async with client.put(path, data=data, headers=auth) as answer:
            assert answer.status == status, await answer.text()
            body: dict[str, Any] = await answer.json()
            return body

    await upload(b"a" * 1000, target="windows")
    room = TIER_LIMITS["basic"].ota_storage_bytes
    # An old release's artifact takes all but 1000 + 50 bytes of the room.
    old = await pool.fetchval("INSERT INTO ota_releases (app_id, version) VALUES ($1, '0.1.0') RETURNING id", app.id)
    await pool.execute(
        "INSERT INTO ota_artifacts (release_id, target, arch, s3_key, file_size, sha256) "
        "VALUES ($1, 'linux', 'x86_64', 'k', $2, repeat('0', 64))",
        old,
        room - 1000 - 50,
    )
    problem = await upload(b"b" * 51, status=413)
    assert (problem["limit"], problem["tier"], problem["lifting_tier"]) == (room, "basic", "small_files")
    await upload(b"b" * 50)
    # Replacing the windows artifact by one as large fits: its own bytes are given back.
    await upload(b"c" * 1000, target="windows")
