"""Personal access tokens: created and revoked on the settings page, used on /api/v1 with their scopes."""

from __future__ import annotations

import asyncio
import hashlib
import re
from html import unescape

import asyncpg
from aiohttp.test_utils import TestClient

from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser, Page
from tests.support.oauth import RegisteredApp, me, tokens_for
from tests.support.queries import QueryCount

SECRET = re.compile(r'<code id="token-secret">(mnwd_pat_[A-Za-z0-9_-]{43})</code>')


async def create_on_page(
    browser: Browser, name: str, scopes: list[str], expires: str = "30", *, csrf: bool = True
) -> Page:
    page = await browser.get("/settings/tokens")
    data = [("name", name), ("expires", expires), *(("scope", s) for s in scopes)]
    if csrf:
        data.append(("csrf_token", page.csrf))
    async with browser.client.post(
        "/settings/tokens", data=data, headers=browser.headers, allow_redirects=False
    ) as response:
        posted = Page(response.status, await response.text(), response.headers.get("Location"), response.headers)
    if posted.status != 303:
        return posted
    assert posted.location == "/settings/tokens/new"
    return await browser.get(posted.location, follow=False)


def secret_of(page: Page) -> str:
    match = SECRET.search(page.text)
    assert match, page.text[:3000]
    return match.group(1)


async def api(client: TestClient, path: str, token: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json()


async def test_a_token_is_shown_once_stored_hashed_used_and_revoked_at_once(
    alice: Browser,
    client: TestClient,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    created = await create_on_page(alice, "nightly export", ["user:read"])
    assert created.status == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = secret_of(created)
    row = await pool.fetchrow("SELECT * FROM personal_access_tokens")
    assert row["token_hash"] == hashlib.sha256(secret.encode()).digest()
    assert secret not in repr(dict(row))
    assert row["scopes"] == ["user:read"]
    assert row["expires_at"] is not None

    status, body = await api(client, "/api/v1/me", secret)
    assert status == 200, body
    assert body["user"]["username"] == "alice"
    assert body["app"] is None
    assert body["scope"] == "user:read"
    assert (await api(client, "/api/v1/me", secret))[0] == 200  # remembered by the bearer cache now

    again = await alice.get("/settings/tokens/new", follow=False)  # a reload: shown once only
    assert again.status == 303
    assert again.location == "/settings/tokens"
    assert await pool.fetchval("SELECT count(*) FROM personal_access_tokens") == 1

    listing = await alice.get("/settings/tokens")
    assert listing.has("nightly export")
    assert secret not in listing.text
    token_id = str(row["id"])
    assert f'data-token-id="{token_id}"' in listing.text

    revoked = await alice.post(f"/settings/tokens/{token_id}/revoke", {"csrf_token": listing.csrf})
    assert revoked.status == 303
    assert revoked.location == "/settings/tokens?saved=revoked"
    status, body = await api(client, "/api/v1/me", secret)
    assert status == 401
    assert body["detail"] == "The access token was revoked."
    assert not (await alice.get("/settings/tokens")).has("nightly export")


async def test_creating_or_revoking_without_the_csrf_token_is_refused(
    alice: Browser,
    client: TestClient,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """The attack: another site's form posts to /settings/tokens with the victim's cookie."""
    refused = await create_on_page(alice, "evil", ["user:read"], csrf=False)
    assert refused.status == 403
    assert await pool.fetchval("SELECT count(*) FROM personal_access_tokens") == 0

    secret = secret_of(await create_on_page(alice, "mine", ["user:read"]))
    token_id = await pool.fetchval("SELECT id FROM personal_access_tokens")
    assert (await alice.post(f"/settings/tokens/{token_id}/revoke", {})).status == 403
    assert (await api(client, "/api/v1/me", secret))[0] == 200


async def test_bad_input_is_shown_on_the_form_and_writes_nothing(
    alice: Browser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    page = await create_on_page(alice, "", [], expires="9999")
    assert page.status == 422
    text = unescape(page.text)
    assert "Give the token a name" in text
    assert "Choose at least one scope." in text
    assert "Expire the token after 1 to 3650 days." in text
    unknown = await create_on_page(alice, "x", ["user:read", "root:all"])
    assert unknown.status == 422
    assert "Unknown scope: root:all." in unescape(unknown.text)
    assert await pool.fetchval("SELECT count(*) FROM personal_access_tokens") == 0


async def test_a_token_without_the_scope_gets_403_and_with_it_200(
    alice: Browser,
    client: TestClient,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    await pool.execute(
        """
        INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix, redirect_uris)
        SELECT id, 'Notes', 'notes', sha256('k'), 'mnwd_sk_abcd', ARRAY['http://127.0.0.1/cb'] FROM users
        WHERE username = 'alice'
        """
    )
    apps_only = secret_of(await create_on_page(alice, "apps", ["apps:read"], expires="never"))
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {apps_only}"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"].endswith("/insufficient-scope")
    assert "user:read" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    status, listed = await api(client, "/api/v1/apps", apps_only)
    assert status == 200
    assert [a["slug"] for a in listed["apps"]] == ["notes"]
    assert await pool.fetchval("SELECT expires_at FROM personal_access_tokens") is None


async def test_expired_revoked_suspended_and_unknown_tokens_get_401(
    alice: Browser,
    client: TestClient,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    secret = secret_of(await create_on_page(alice, "t", ["user:read"], expires="7"))
    await pool.execute(
        "UPDATE personal_access_tokens"
        " SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'"
    )
    status, body = await api(client, "/api/v1/me", secret)
    assert status == 401
    assert "expired" in body["detail"]
    await pool.execute("UPDATE personal_access_tokens SET expires_at = NULL")
    await pool.execute("UPDATE users SET suspended_at = now()")
    assert (await api(client, "/api/v1/me", secret))[1]["detail"] == "The account of this token is suspended."
    status, body = await api(client, "/api/v1/me", "mnwd_pat_" + "x" * 43)
    assert status == 401
    assert body["detail"] == "The access token is not valid."


async def test_someone_elses_token_id_is_not_found(
    alice: Browser,
    client: TestClient,
    aiohttp_client: object,
    make_user: MakeUser,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """The attack: bob revokes alice's token by its id (ids show in page source, logs, screenshots)."""
    secret = secret_of(await create_on_page(alice, "alice's", ["user:read"]))
    token_id = await pool.fetchval("SELECT id FROM personal_access_tokens")
    await make_user("bob")
    bob = Browser(await aiohttp_client(client.server))  # type: ignore[operator]
    await sign_in(bob, "bob")
    page = await bob.get("/settings/tokens")
    assert page.status == 200
    assert "alice" not in page.text
    refused = await bob.post(f"/settings/tokens/{token_id}/revoke", {"csrf_token": page.csrf})
    assert refused.status == 404
    assert (await bob.post("/settings/tokens/not-a-uuid/revoke", {"csrf_token": page.csrf})).status == 404
    assert await pool.fetchval("SELECT revoked_at FROM personal_access_tokens") is None
    assert (await api(client, "/api/v1/me", secret))[0] == 200


async def test_last_used_is_written_at_most_once_a_minute(
    alice: Browser,
    client: TestClient,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    secret = secret_of(await create_on_page(alice, "t", ["user:read"]))
    assert await pool.fetchval("SELECT last_used_at FROM personal_access_tokens") is None
    assert (await api(client, "/api/v1/me", secret))[0] == 200
    assert await pool.fetchval("SELECT last_used_at FROM personal_access_tokens") is not None
    await pool.execute("UPDATE personal_access_tokens SET last_used_at = NULL")
    for _ in range(3):
        assert (await api(client, "/api/v1/me", secret))[0] == 200
    assert await pool.fetchval("SELECT last_used_at FROM personal_access_tokens") is None
    assert (await alice.get("/settings/tokens")).has("never")


async def test_tokens_stay_on_their_own_api(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    """A personal token is not an app's token: /sync/v1 refuses it; an app's token cannot list apps."""
    secret = secret_of(await create_on_page(alice, "t", ["user:read", "apps:read"]))
    response = await client.get("/sync/v1/devices", headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 401
    assert "personal access tokens work on /api/v1" in (await response.json())["detail"]
    tokens = await tokens_for(alice, client, notes_app)
    assert (await me(client, tokens["access_token"])).status == 200
    status, body = await api(client, "/api/v1/apps", tokens["access_token"])
    assert status == 403
    assert "apps:read" in body["detail"]


async def test_a_revocation_elsewhere_reaches_the_cache_by_notification(
    alice: Browser,
    client: TestClient,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    """Another daemon revokes (here: SQL on another connection): this daemon forgets its remembered check."""
    secret = secret_of(await create_on_page(alice, "t", ["user:read"]))
    assert (await api(client, "/api/v1/me", secret))[0] == 200
    await pool.execute("UPDATE personal_access_tokens SET revoked_at = now()")
    for _ in range(100):
        if (await api(client, "/api/v1/me", secret))[0] == 401:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the revoked token still works")


async def test_only_changes_that_matter_notify(conn: asyncpg.Connection, pool: asyncpg.Pool) -> None:  # type: ignore[type-arg]
    user_id = await pool.fetchval("INSERT INTO users (username, email) VALUES ('ann', 'ann@example.org') RETURNING id")
    token_id = await pool.fetchval(
        "INSERT INTO personal_access_tokens (user_id, name, token_hash, scopes) "
        "VALUES ($1, 't', sha256('x'), ARRAY['user:read']) RETURNING id",
        user_id,
    )
    heard: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener("mnwd_bearers", lambda *args: heard.put_nowait(args[3]))
    await pool.execute("UPDATE personal_access_tokens SET last_used_at = now(), name = 'u' WHERE id = $1", token_id)
    await pool.execute("SELECT 1")
    await asyncio.sleep(0.2)
    assert heard.empty()
    for change in ("scopes = ARRAY['apps:read']", "expires_at = now() + interval '1 day'", "revoked_at = now()"):
        await pool.execute(f"UPDATE personal_access_tokens SET {change} WHERE id = $1", token_id)
        await asyncio.wait_for(heard.get(), 2)
    await pool.execute("DELETE FROM personal_access_tokens")
    await asyncio.wait_for(heard.get(), 2)


async def test_a_token_is_checked_in_one_statement_then_remembered(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    query_count: QueryCount,
) -> None:
    """The first call checks (one query) and notes the use (one write); later calls cost nothing."""
    secret = secret_of(await create_on_page(alice, "t", ["user:read"]))
    for expected in (2, 0, 0):
        async with query_count() as statements:
            status, _ = await api(client, "/api/v1/me", secret)
        assert status == 200
        assert len(statements) == expected, statements
