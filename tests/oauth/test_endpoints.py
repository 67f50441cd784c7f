from __future__ import annotations

import base64

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, me, register_app, tokens_for


async def test_metadata(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/.well-known/oauth-authorization-server")
    body = await response.json()
    assert body["issuer"] == "http://localhost:8080"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["token_endpoint"] == "http://localhost:8080/oauth/token"
    assert body["grant_types_supported"] == ["authorization_code", "refresh_token"]


async def test_revoking_a_refresh_token_ends_the_grant(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    response = await client.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": str(notes_app.id)}
    )
    assert response.status == 200
    assert (await me(client, tokens["access_token"])).status == 401


async def test_revoking_an_access_token_keeps_the_refresh_token(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    data = {"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": str(notes_app.id)}
    assert (await client.post("/oauth/revoke", data=data)).status == 200
    assert (await me(client, tokens["access_token"])).status == 401
    refreshed = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": str(notes_app.id)},
    )
    assert refreshed.status == 200


async def test_revoking_an_unknown_token_is_still_200(client: TestClient, notes_app: RegisteredApp) -> None:  # type: ignore[type-arg]
    response = await client.post("/oauth/revoke", data={"token": "nonsense", "client_id": str(notes_app.id)})
    assert response.status == 200


async def test_introspection_with_the_api_key(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    response = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        headers={"Authorization": f"Bearer {notes_app.api_key}"},
    )
    body = await response.json()
    assert body["active"] is True
    assert body["username"] == "alice"
    assert body["client_id"] == str(notes_app.id)
    assert body["exp"] - body["iat"] == 3600

    other = await register_app(pool, await pool.fetchval("SELECT id FROM users WHERE username = 'maker'"), "other")
    foreign = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        headers={"Authorization": "Basic " + base64.b64encode(f"{other.id}:{other.api_key}".encode()).decode()},
    )
    assert await foreign.json() == {"active": False}

    unknown = await client.post(
        "/oauth/introspect", data={"token": "garbage"}, headers={"Authorization": f"Bearer {notes_app.api_key}"}
    )
    assert await unknown.json() == {"active": False}


@pytest.mark.parametrize("auth", [None, "Bearer mnwd_sk_wrong", "Basic !!!"])
async def test_introspection_needs_the_api_key(client: TestClient, notes_app: RegisteredApp, auth: str | None) -> None:  # type: ignore[type-arg]
    headers = {"Authorization": auth} if auth else {}
    response = await client.post("/oauth/introspect", data={"token": "x"}, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("header", "fragment", "challenge"),
    [
        (None, "Send an access token", 'Bearer realm="mnwd"'),
        ("Bearer ", "Send an access token", 'Bearer realm="mnwd"'),
        ("Basic abc", "Send an access token", 'Bearer realm="mnwd"'),
        ("Bearer mnwd_at_nonsense", "not valid", 'error="invalid_token"'),
    ],
)
async def test_bearer_refusals(client: TestClient, header: str | None, fragment: str, challenge: str) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status == 401
    assert challenge in response.headers["WWW-Authenticate"]
    assert response.content_type == "application/problem+json"
    assert fragment in (await response.json())["detail"]


async def test_expired_and_suspended_tokens_are_refused(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    await pool.execute("UPDATE users SET suspended_at = now() WHERE username = 'alice'")
    assert (await (await me(client, tokens["access_token"])).json())[
        "detail"
    ] == "The account of this token is suspended."
    await pool.execute("UPDATE users SET suspended_at = NULL")
    await pool.execute(
        "UPDATE oauth_access_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'"
    )
    expired = await me(client, tokens["access_token"])
    assert expired.status == 401
    assert "expired" in (await expired.json())["detail"]


async def test_users_see_and_revoke_apps_with_access(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    page = await alice.get("/settings/apps")
    assert page.has("Notes")
    assert page.has("by @maker")
    revoked = await alice.post(f"/settings/apps/{notes_app.id}/revoke", {"csrf_token": page.csrf})
    assert revoked.location == "/settings/apps?saved=revoked"
    assert (await me(client, tokens["access_token"])).status == 401
    assert (await alice.get("/settings/apps")).has("No app has access")
    again = await alice.post(f"/settings/apps/{notes_app.id}/revoke", {"csrf_token": page.csrf})
    assert again.status == 404
    assert await pool.fetchval("SELECT count(*) FROM oauth_consents") == 0
