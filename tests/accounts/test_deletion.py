"""Deleting one's account: what the page says will go, the cascade, and accounts others depend on."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.accounts import queries
from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, me, refresh, register_app, tokens_for
from tests.support.sync import insert_item, insert_project


async def add_device(pool: asyncpg.Pool, app_id: uuid.UUID, user_id: uuid.UUID, name: str = "phone") -> uuid.UUID:
    device_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO sync_devices (app_id, user_id, device_name) VALUES ($1, $2, $3) RETURNING id",
        app_id,
        user_id,
        name,
    )
    await pool.execute(
        "INSERT INTO sync_log (app_id, user_id, device_id, table_name, operation, row_id, data)"
        " VALUES ($1, $2, $3, 'notes', 'INSERT', 'n1', '{}')",
        app_id,
        user_id,
        device_id,
    )
    await pool.execute(
        "INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes) VALUES ($1, $2, repeat('a', 64), 'k', 3)",
        app_id,
        user_id,
    )
    await pool.execute("INSERT INTO oauth_grants (app_id, user_id, scope) VALUES ($1, $2, 'sync')", app_id, user_id)
    return device_id


async def sale(pool: asyncpg.Pool, buyer: uuid.UUID, seller: uuid.UUID, item: uuid.UUID | None) -> uuid.UUID:
    tx_id: uuid.UUID = await pool.fetchval(
        """
        INSERT INTO transactions (buyer_id, seller_id, item_id, amount_cents, item_title, seller_username, status)
        VALUES ($1, $2, $3, 500, 'The app', 'someone', 'completed') RETURNING id
        """,
        buyer,
        seller,
        item,
    )
    return tx_id


async def rows_of(pool: asyncpg.Pool, user_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for table, column in [
        ("users", "id"),
        ("user_sessions", "user_id"),
        ("sync_apps", "creator_id"),
        ("sync_devices", "user_id"),
        ("sync_log", "user_id"),
        ("sync_blobs", "user_id"),
        ("oauth_grants", "user_id"),
        ("projects", "user_id"),
    ]:
        counts[table] = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", user_id)
    return counts


async def test_the_page_says_what_goes_then_the_account_and_its_rows_go(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool, services: Services, config: Config
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    app = await register_app(pool, alice["id"], "notes")
    await add_device(pool, app.id, alice["id"])
    bobs_app = await register_app(pool, bob["id"], "todo")
    await add_device(pool, bobs_app.id, alice["id"], "laptop")
    await add_device(pool, bobs_app.id, bob["id"])
    project = await insert_project(pool, alice["id"])
    own_sale = await sale(pool, alice["id"], alice["id"], await insert_item(pool, project))
    bobs_item = await insert_item(pool, await insert_project(pool, bob["id"], "bobs"))
    purchase = await sale(pool, alice["id"], bob["id"], bobs_item)
    await sign_in(browser, "alice")

    page = await browser.get("/settings/delete")
    assert page.status == 200
    assert page.has("Deleted: 1 project and 0 repositories.")
    assert page.has("Deleted, with their keys: 1 app you registered.")
    assert page.has("Kept as the buyers' receipts, without your name: 1 sale. Deleted: 2 purchases of yours.")
    assert page.has("Deleted: 2 devices, 2 synced changes and 2 synced files.")
    assert page.has("Access ends for 2 apps you allowed; 0 passkeys are deleted.")

    wrong = await browser.post("/settings/delete", {"confirm_username": "bob", "csrf_token": page.csrf})
    assert wrong.status == 422
    assert wrong.has("Type your username, alice, to confirm.")
    assert (await rows_of(pool, alice["id"]))["users"] == 1
    forged = await browser.post("/settings/delete", {"confirm_username": "alice"})
    assert forged.status == 403
    assert (await rows_of(pool, alice["id"]))["users"] == 1

    bob_before = await rows_of(pool, bob["id"])
    done = await browser.post("/settings/delete", {"confirm_username": "@Alice", "csrf_token": page.csrf})
    assert done.status == 200, done.text
    assert done.has("Your account is deleted")
    assert set((await rows_of(pool, alice["id"])).values()) == {0}
    assert (
        await pool.fetchval("SELECT count(*) FROM transactions WHERE id = ANY($1::uuid[])", [own_sale, purchase]) == 0
    )
    # Bob keeps everything, his app included (alice's device in it went with her).
    assert await rows_of(pool, bob["id"]) == bob_before
    assert (await browser.get("/settings", follow=False)).status == 303
    # The username and the address are free again.
    again = await make_user("alice")
    assert again["id"] != alice["id"]
    assert read_outbox(config.data_dir / "outbox") == []


async def test_an_account_others_depend_on_cannot_be_deleted(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    app = await register_app(pool, alice["id"], "notes")
    await add_device(pool, app.id, bob["id"])
    item = await insert_item(pool, await insert_project(pool, alice["id"]))
    await sale(pool, bob["id"], alice["id"], item)
    await sign_in(browser, "alice")

    page = await browser.get("/settings/delete")
    assert page.has("Your account cannot be deleted yet, because other people depend on it:")
    assert page.has("1 other people use your apps")
    assert page.has("1 purchases of your items by other people must stay available to them.")
    csrf = (await browser.get("/settings")).csrf
    refused = await browser.post("/settings/delete", {"confirm_username": "alice", "csrf_token": csrf})
    assert refused.status == 409
    assert refused.has("Ask the operators of this site to close it.")
    assert (await rows_of(pool, alice["id"]))["users"] == 1
    assert (await rows_of(pool, bob["id"]))["sync_devices"] == 1

    async with browser.client.post(
        "/settings/delete",
        data={"confirm_username": "alice", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    ) as response:
        assert response.status == 409
        body = await response.json()
    assert body["type"].endswith("/account-has-dependents")
    assert len(body["reasons"]) == 2


async def test_a_post_in_someone_elses_project_blocks_the_delete_without_half_deleting(
    make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """The deferred foreign key of ``blog_posts.author_id`` refuses inside the deletion, not at a later commit."""
    alice = await make_user("alice")
    bob = await make_user("bob")
    project = await insert_project(pool, bob["id"], "bobs")
    await pool.execute(
        "INSERT INTO blog_posts (project_id, author_id, title, slug) VALUES ($1, $2, 'Guest post', 'guest')",
        project,
        alice["id"],
    )
    assert await queries.get_account_dependents(pool, alice["id"]) == {
        "app_users": 0,
        "subscribers": 0,
        "buyers": 0,
        "foreign_posts": 1,
    }
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        assert await queries.delete_user(conn, alice["id"]) is None
        await transaction.rollback()
    assert await pool.fetchval("SELECT count(*) FROM users WHERE id = $1", alice["id"]) == 1


async def test_a_deleted_accounts_api_tokens_stop_at_once(
    browser: Browser,
    make_user: MakeUser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """Attack: keep using an app's access token of an account after its owner deleted it."""
    await make_user("alice")
    await sign_in(browser, "alice")
    tokens = await tokens_for(browser, client, notes_app)
    assert (await me(client, tokens["access_token"])).status == 200
    page = await browser.get("/settings/delete")
    done = await browser.post("/settings/delete", {"confirm_username": "alice", "csrf_token": page.csrf})
    assert done.status == 200
    assert (await me(client, tokens["access_token"])).status == 401
    assert (await refresh(client, notes_app, tokens["refresh_token"])).status == 400
    assert await pool.fetchval("SELECT count(*) FROM sync_apps WHERE id = $1", notes_app.id) == 1
