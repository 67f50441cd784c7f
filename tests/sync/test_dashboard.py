"""The creator's usage counts on ``/dashboard/apps/{app_id}``, and a user's devices on ``/settings/devices``."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.sync import dashboard
from mnwd.sync.dashboard import size_text
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, register_app
from tests.sync.streams import SyncApi, new_id, token_for


@dataclass
class Scene:
    """Notes (by ``maker``): alice on a laptop and a phone, bob on a tablet (revoked), carol signed in without a
    device. Todo (by ``other``): alice on a laptop."""

    notes: RegisteredApp
    todo: RegisteredApp
    alice_laptop: SyncApi
    alice_phone: SyncApi
    bob_tablet: SyncApi
    alice_todo: SyncApi


async def _device(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    user: str,
    app: RegisteredApp,
    name: str,
    platform: str,
) -> SyncApi:
    api = SyncApi(client, await token_for(aiohttp_client, client, user, app))
    await api.register(name, platform)
    return api


async def _push(api: SyncApi, *data: dict[str, Any] | None) -> None:
    response = await api.push([api.mutation(new_id(), value, op="INSERT") for value in data])
    assert response.status == 200, await response.text()


async def _insert_blob(pool: asyncpg.Pool, app: RegisteredApp, user_id: uuid.UUID, size: int) -> None:
    digest = hashlib.sha256(str(size).encode()).hexdigest()
    await pool.execute(
        "INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes) VALUES ($1, $2, $3, $3, $4)",
        app.id,
        user_id,
        digest,
        size,
    )


@pytest.fixture
async def scene(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    pool: asyncpg.Pool,
    notes_app: RegisteredApp,
) -> Scene:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await make_user("carol")
    other = await make_user("other", can_create_projects=True)
    todo = await register_app(pool, other["id"], slug="todo")

    alice_laptop = await _device(client, aiohttp_client, "alice", notes_app, "laptop", "linux")
    alice_phone = await _device(client, aiohttp_client, "alice", notes_app, "phone", "ios")
    bob_tablet = await _device(client, aiohttp_client, "bob", notes_app, "tablet", "android")
    await token_for(aiohttp_client, client, "carol", notes_app)
    alice_todo = await _device(client, aiohttp_client, "alice", todo, "laptop", "macos")

    await _push(alice_laptop, {"ciphertext": "x" * 300}, {"ciphertext": "y" * 40})
    await _push(alice_phone, {"n": 1})
    await _push(bob_tablet, {"ciphertext": "z"})
    await _push(alice_todo, {"ciphertext": "not notes"})
    revoked = await client.delete(f"/sync/v1/devices/{bob_tablet.device_id}", headers=bob_tablet.headers)
    assert revoked.status == 204

    await _insert_blob(pool, notes_app, alice["id"], 1500)
    await _insert_blob(pool, notes_app, bob["id"], 2_000_000)
    await _insert_blob(pool, todo, alice["id"], 7)
    return Scene(notes_app, todo, alice_laptop, alice_phone, bob_tablet, alice_todo)


# The creator's usage counts


async def test_the_creator_sees_the_apps_usage(browser: Browser, pool: asyncpg.Pool, scene: Scene) -> None:
    log_bytes = await pool.fetchval("SELECT sum(pg_column_size(data)) FROM sync_log WHERE app_id = $1", scene.notes.id)
    newest = await pool.fetchval("SELECT max(server_time) FROM sync_log WHERE app_id = $1", scene.notes.id)

    stats = await dashboard.get_app_stats(pool, scene.notes.id)
    assert (stats.users, stats.active_devices, stats.revoked_devices) == (3, 2, 1)
    assert (stats.log_rows, stats.log_bytes, stats.last_activity) == (4, log_bytes, newest)
    assert log_bytes > 340  # the two large payloads at least
    assert (stats.blobs, stats.blob_bytes) == (2, 2_001_500)

    await sign_in(browser, "maker")
    page = await browser.get(f"/dashboard/apps/{scene.notes.id}")
    assert page.status == 200, page.text
    for shown in (
        '<td id="stat-users">3</td>',
        "2 active, 1 revoked",
        f"4 changes, about {size_text(log_bytes)}",
        "2 files, 1.9 MB",
        newest.strftime("%Y-%m-%d %H:%M UTC"),
        "As of now",
    ):
        assert page.has(shown), shown


async def test_an_app_without_use_counts_zero(pool: asyncpg.Pool, make_user: MakeUser) -> None:
    maker = await make_user("lonely", can_create_projects=True)
    app = await register_app(pool, maker["id"], slug="empty")
    stats = await dashboard.get_app_stats(pool, app.id)
    assert (stats.users, stats.active_devices, stats.revoked_devices, stats.log_rows, stats.log_bytes) == (0,) * 5
    assert (stats.blobs, stats.blob_bytes, stats.last_activity) == (0, 0, None)


async def test_only_the_creator_sees_the_usage(browser: Browser, scene: Scene) -> None:
    """Alice uses the app and ``other`` is a creator too: the page is still not found for both."""
    for outsider in ("alice", "other"):
        await sign_in(browser, outsider)
        page = await browser.get(f"/dashboard/apps/{scene.notes.id}")
        assert page.status == 404, (outsider, page.status)
        assert not page.has("Usage")


def test_sizes_read_like_people_write_them() -> None:
    assert [size_text(n) for n in (0, 1, 1023, 1024, 1536, 10 * 1024, 2_000_000, 5 * 1024**5)] == [
        "0 bytes",
        "1 byte",
        "1023 bytes",
        "1.0 KB",
        "1.5 KB",
        "10 KB",
        "1.9 MB",
        "5120 TB",
    ]


async def test_the_header_links_the_dashboard_for_creators_only(browser: Browser, scene: Scene) -> None:
    await sign_in(browser, "maker")
    assert (await browser.get("/settings")).has('<a href="/dashboard/apps">Apps</a>')
    await sign_in(browser, "alice")
    assert not (await browser.get("/settings")).has('href="/dashboard/apps"')


# A user's devices


def _row(page_text: str, device_id: str | None) -> str:
    start = page_text.index(f'data-device-id="{device_id}"')
    return page_text[start : page_text.index("</tr>", start)]


async def test_the_devices_page_lists_my_devices_by_app(browser: Browser, scene: Scene) -> None:
    await sign_in(browser, "alice")
    page = await browser.get("/settings/devices")
    assert page.status == 200, page.text
    assert page.has('href="/settings/devices"')
    notes, todo = page.text.index("<h2>Notes"), page.text.index("<h2>Todo")
    assert notes < todo
    for api, name, platform in (
        (scene.alice_laptop, "laptop", "linux"),
        (scene.alice_phone, "phone", "ios"),
        (scene.alice_todo, "laptop", "macos"),
    ):
        row = _row(page.text, api.device_id)
        assert f"<td>{name}</td>" in row
        assert f'<td class="optional">{platform}</td>' in row
        assert f'href="/settings/devices/{api.device_id}/revoke"' in row
    assert notes < page.text.index(f'data-device-id="{scene.alice_phone.device_id}"') < todo
    assert todo < page.text.index(f'data-device-id="{scene.alice_todo.device_id}"')
    assert str(scene.bob_tablet.device_id) not in page.text

    await sign_in(browser, "bob")
    page = await browser.get("/settings/devices")
    row = _row(page.text, scene.bob_tablet.device_id)
    assert "revoked" in row
    assert "/revoke" not in row
    assert not page.has("Todo")


async def test_no_devices_yet(browser: Browser, make_user: MakeUser) -> None:
    await make_user("dave")
    await sign_in(browser, "dave")
    page = await browser.get("/settings/devices")
    assert page.status == 200
    assert page.has("No device syncs with an app yet.")


async def test_revoking_from_the_page_refuses_the_devices_token_at_once(
    browser: Browser, pool: asyncpg.Pool, scene: Scene
) -> None:
    assert (await scene.alice_phone.pull()).status == 200
    await sign_in(browser, "alice")
    path = f"/settings/devices/{scene.alice_phone.device_id}/revoke"
    page = await browser.submit("/settings/devices", path, {})
    assert page.status == 303
    assert page.location == "/settings/devices?saved=revoked"

    refused = await scene.alice_phone.pull()
    assert refused.status == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert (await refused.json())["detail"] == "The device of this token was revoked."
    assert (await scene.alice_laptop.pull()).status == 200
    assert (await scene.alice_todo.pull()).status == 200

    listing = await browser.get(page.location)
    assert listing.has("The device was revoked")
    assert "/revoke" not in _row(listing.text, scene.alice_phone.device_id)
    revoked_at = await pool.fetchval("SELECT revoked_at FROM sync_devices WHERE id = $1", scene.alice_phone.device_id)
    assert revoked_at is not None

    again = await browser.post(path, {"csrf_token": listing.csrf})
    assert again.status == 303
    assert (
        await pool.fetchval("SELECT revoked_at FROM sync_devices WHERE id = $1", scene.alice_phone.device_id)
        == revoked_at
    )


async def test_someone_elses_device_is_not_found(browser: Browser, pool: asyncpg.Pool, scene: Scene) -> None:
    """Bob posts alice's device id (and made-up ones) with his own valid CSRF token: 404, nothing revoked."""
    await sign_in(browser, "bob")
    csrf = (await browser.get("/settings/devices")).csrf
    for device_id in (scene.alice_laptop.device_id, str(uuid.uuid4()), "not-an-id"):
        page = await browser.post(f"/settings/devices/{device_id}/revoke", {"csrf_token": csrf})
        assert page.status == 404, (device_id, page.status)
        assert page.has("There is no such device.")
    assert await pool.fetchval("SELECT count(*) FROM sync_devices WHERE revoked_at IS NOT NULL") == 1
    assert (await scene.alice_laptop.pull()).status == 200


async def test_revoking_needs_the_csrf_token(browser: Browser, pool: asyncpg.Pool, scene: Scene) -> None:
    """A cross-site form posting to the revoke URL carries alice's cookie but not her CSRF token."""
    await sign_in(browser, "alice")
    path = f"/settings/devices/{scene.alice_laptop.device_id}/revoke"
    for form in ({}, {"csrf_token": "forged"}):
        page = await browser.post(path, form)
        assert page.status == 403, page.text
    revoked_at = await pool.fetchval("SELECT revoked_at FROM sync_devices WHERE id = $1", scene.alice_laptop.device_id)
    assert revoked_at is None
    assert (await scene.alice_laptop.pull()).status == 200


async def test_signing_in_comes_first(browser: Browser) -> None:
    page = await browser.get("/settings/devices", follow=False)
    assert page.status == 303
    assert page.location == "/login?next=/settings/devices"


async def test_revoking_asks_first_naming_the_device_and_the_app(
    browser: Browser, pool: asyncpg.Pool, scene: Scene
) -> None:
    await sign_in(browser, "alice")
    path = f"/settings/devices/{scene.alice_phone.device_id}/revoke"
    question = await browser.get(path)
    assert question.status == 200
    assert question.has("Revoke “phone” (Notes)?")
    assert question.has(f'<form method="post" action="{path}"')
    assert await pool.fetchval("SELECT count(*) FROM sync_devices WHERE revoked_at IS NOT NULL") == 1
    assert (await scene.alice_phone.pull()).status == 200
    done = await browser.post(path, {"csrf_token": question.csrf})
    assert done.location == "/settings/devices?saved=revoked"
    # Revoked, it is no longer offered.
    assert (await browser.get(path)).status == 404


async def test_the_question_about_someone_elses_device_is_not_found(browser: Browser, scene: Scene) -> None:
    await sign_in(browser, "bob")
    for device_id in (scene.alice_laptop.device_id, uuid.uuid4(), "not-an-id"):
        page = await browser.get(f"/settings/devices/{device_id}/revoke")
        assert page.status == 404
        assert "laptop" not in page.text
