"""Deleting an account deletes the stored bytes of its file versions and media (migration 0025 queues a
``store.files_collect`` job per hash before the user row goes); bytes another user's rows name stay."""

from __future__ import annotations

import asyncpg

from mnwd.services import Services
from tests.store.conftest import Api
from tests.store.social_support import Client, image_bytes, token
from tests.store.test_media import api_upload
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


async def _media(client: Client, secret: str, data: bytes, name: str) -> str:
    response = await api_upload(client, secret, data, name)
    assert response.status == 201, await response.text()
    sha256: str = (await response.json())["sha256"]
    return sha256


async def _version(api: Api, item_id: str, data: bytes, number: str) -> str:
    status, doc = await api.put_file(item_id, data, f"version={number}")
    assert status == 201, doc
    sha256: str = doc["sha256"]
    return sha256


async def _delete_account(browser: Browser, username: str) -> None:
    await sign_in(browser, username)
    page = await browser.get("/settings/delete")
    done = await browser.post("/settings/delete", {"confirm_username": username, "csrf_token": page.csrf})
    assert done.status == 200
    assert done.has("Account deleted")


async def test_a_deleted_accounts_bytes_go_and_others_same_bytes_stay(
    browser: Browser, maker_api: Api, rival_api: Api, services: Services, client: Client, pool: asyncpg.Pool
) -> None:
    mine = await maker_api.item((await maker_api.project("tools"))["id"], "app")
    theirs = await rival_api.item((await rival_api.project("kit"))["id"], "lib")
    own_file = await _version(maker_api, mine["id"], b"only the maker has these bytes", "1")
    shared_file = await _version(maker_api, mine["id"], b"both have these bytes", "2")
    assert await _version(rival_api, theirs["id"], b"both have these bytes", "1") == shared_file
    maker_media = await token(services, "maker", "media:write")
    rival_media = await token(services, "rival", "media:write")
    own_image = await _media(client, maker_media, image_bytes("PNG", (6, 6), "blue"), "mine.png")
    shared_image = await _media(client, maker_media, image_bytes("PNG", (6, 6), "green"), "both.png")
    assert await _media(client, rival_media, image_bytes("PNG", (6, 6), "green"), "same.png") == shared_image
    await pool.execute("DELETE FROM jobs")

    await _delete_account(browser, "maker")
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = 'maker'") == 0
    queued = await pool.fetch("SELECT payload->>'sha256' AS sha256 FROM jobs WHERE kind = 'store.files_collect'")
    assert sorted(r["sha256"] for r in queued) == sorted([own_file, shared_file, own_image, shared_image])
    await services.jobs.run_due(10)
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE state <> 'done'") == 0

    assert not await services.blobs.exists(own_file)
    assert not await services.blobs.exists(own_image)
    assert await services.blobs.exists(shared_file)
    assert await services.blobs.exists(shared_image)
    async with client.get("/@rival/kit/lib/download") as response:
        assert response.status == 200
        assert await response.read() == b"both have these bytes"


async def test_deleting_an_account_without_files_queues_nothing(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("fan")
    await _delete_account(browser, "fan")
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'store.files_collect'") == 0
