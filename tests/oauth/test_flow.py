from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.oauth.pages import redirect_source
from tests.support.browser import Browser
from tests.support.oauth import (
    FORM_FIELD,
    REDIRECT,
    Pkce,
    RegisteredApp,
    authorize_path,
    exchange,
    get_code,
    me,
    query_of,
    refresh,
)


async def test_code_flow_with_consent_tokens_refresh_and_me(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    consent = await alice.get(authorize_path(notes_app, pkce))
    assert consent.status == 200
    assert consent.has("Authorize Notes")
    assert consent.has("by <strong>@maker</strong>")
    assert consent.has("@alice")
    code = await get_code(alice, notes_app, pkce)
    response = await exchange(client, notes_app, code, pkce.verifier)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    tokens = await response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "sync"
    assert tokens["access_token"].startswith("mnwd_at_")
    assert tokens["refresh_token"].startswith("mnwd_rt_")
    whoami = await me(client, tokens["access_token"])
    assert whoami.status == 200
    body = await whoami.json()
    assert body["user"]["username"] == "alice"
    assert body["app"]["id"] == str(notes_app.id)
    stored = await pool.fetchval(
        "SELECT count(*) FROM oauth_access_tokens WHERE token_hash = sha256($1::text::bytea)", tokens["access_token"]
    )
    assert stored == 1

    rotated = await (await refresh(client, notes_app, tokens["refresh_token"])).json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert (await me(client, rotated["access_token"])).status == 200

    again = await get_code(alice, notes_app, Pkce.new())
    assert again, "consent is remembered: no second consent page"


async def test_state_and_issuer_come_back(alice: Browser, notes_app: RegisteredApp) -> None:
    pkce = Pkce.new()
    await get_code(alice, notes_app, pkce)
    page = await alice.get(authorize_path(notes_app, pkce, state="s p&ce"), follow=False)
    params = query_of(page.location)
    assert params["state"] == "s p&ce"
    assert params["iss"] == "http://localhost:8080"
    assert page.location is not None
    assert page.location.startswith(REDIRECT + "?")


async def test_signed_out_users_sign_in_first_and_come_back(
    browser: Browser, make_user: object, notes_app: RegisteredApp
) -> None:
    await make_user("alice")  # type: ignore[operator]
    path = authorize_path(notes_app, Pkce.new())
    page = await browser.get(path, follow=False)
    assert page.status == 303
    assert page.location is not None
    [back_to] = parse_qs(urlsplit(page.location).query)["next"]
    assert urlsplit(back_to).path == "/oauth/authorize"
    assert parse_qs(urlsplit(back_to).query) == parse_qs(urlsplit(path).query)
    login = await browser.get(page.location)
    signed_in = await browser.post(
        "/login", {"login": "alice", "password": "correct horse battery", "next": path, "csrf_token": login.csrf}
    )
    assert signed_in.location == path
    assert (await browser.get(path)).has("Authorize Notes")


async def test_deny_redirects_with_access_denied(alice: Browser, notes_app: RegisteredApp) -> None:
    page = await alice.get(authorize_path(notes_app, Pkce.new()))
    form = dict(FORM_FIELD.findall(page.text))
    denied = await alice.post("/oauth/authorize", {**form, "decision": "deny"})
    params = query_of(denied.location)
    assert params["error"] == "access_denied"
    assert params["state"] == "xyz-state"
    assert "code" not in params


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"code_challenge": None}, "invalid_request", "code_challenge is required"),
        ({"code_challenge_method": "plain"}, "invalid_request", "plain is not accepted"),
        ({"code_challenge_method": None}, "invalid_request", "must be S256"),
        ({"code_challenge": "short"}, "invalid_request", "43-character"),
        ({"response_type": "token"}, "unsupported_response_type", "response_type=code"),
        ({"scope": "sync admin"}, "invalid_scope", "Unknown scope: admin"),
    ],
)
async def test_bad_requests_are_redirected_with_an_error(
    alice: Browser, notes_app: RegisteredApp, overrides: dict[str, str | None], error: str, fragment: str
) -> None:
    page = await alice.get(authorize_path(notes_app, Pkce.new(), **overrides), follow=False)
    assert page.status == 303
    params = query_of(page.location)
    assert params["error"] == error
    assert fragment in params["error_description"]
    assert params["state"] == "xyz-state"
    assert "code" not in params


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1:5555/other-path"},
        {"redirect_uri": "http://localhost/callback"},
        {"redirect_uri": "https://notes.example/oauth/callback/../../evil"},
        {"redirect_uri": None},
        {"client_id": "00000000-0000-0000-0000-000000000000"},
        {"client_id": "not-a-uuid"},
    ],
)
async def test_untrusted_client_or_redirect_is_shown_never_redirected(
    alice: Browser, notes_app: RegisteredApp, overrides: dict[str, str | None]
) -> None:
    page = await alice.get(authorize_path(notes_app, Pkce.new(), **overrides), follow=False)
    assert page.status == 400
    assert page.location is None
    assert page.has("broken request")


async def test_duplicated_parameters_are_refused(alice: Browser, notes_app: RegisteredApp) -> None:
    path = authorize_path(notes_app, Pkce.new()) + "&redirect_uri=https%3A%2F%2Fevil.example%2F"
    page = await alice.get(path, follow=False)
    assert page.status == 400
    assert page.location is None


async def test_loopback_redirects_match_any_port(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    uri = "http://127.0.0.1:49152/callback"
    page = await alice.get(authorize_path(notes_app, pkce, redirect_uri=uri))
    form = dict(FORM_FIELD.findall(page.text))
    allowed = await alice.post("/oauth/authorize", {**form, "decision": "allow"})
    assert allowed.location is not None
    assert allowed.location.startswith(uri + "?code=")
    code = query_of(allowed.location)["code"]
    wrong_port = await exchange(client, notes_app, code, pkce.verifier, redirect_uri="http://127.0.0.1:49153/callback")
    assert (await wrong_port.json())["error"] == "invalid_grant"
    assert (await exchange(client, notes_app, code, pkce.verifier, redirect_uri=uri)).status == 200


async def test_wrong_verifier_is_refused_and_does_not_burn_the_code(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    response = await exchange(client, notes_app, code, Pkce.new().verifier)
    assert response.status == 400
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body == {"error": "invalid_grant", "error_description": "code_verifier does not match the code_challenge."}
    assert (await exchange(client, notes_app, code, pkce.verifier)).status == 200


async def test_expired_code_is_refused(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    await pool.execute(
        "UPDATE oauth_authorization_codes"
        " SET created_at = now() - interval '6 minutes', expires_at = now() - interval '1 minute'"
    )
    body = await (await exchange(client, notes_app, code, pkce.verifier)).json()
    assert body["error"] == "invalid_grant"
    assert "expired" in body["error_description"]


async def test_a_code_used_twice_revokes_the_tokens_it_gave(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    first = await (await exchange(client, notes_app, code, pkce.verifier)).json()
    assert (await me(client, first["access_token"])).status == 200
    second = await exchange(client, notes_app, code, pkce.verifier)
    assert second.status == 400
    assert "already used" in (await second.json())["error_description"]
    revoked = await me(client, first["access_token"])
    assert revoked.status == 401
    assert (await (await refresh(client, notes_app, first["refresh_token"])).json())["error"] == "invalid_grant"


async def test_twenty_concurrent_redemptions_give_one_token(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    responses = await asyncio.gather(*(exchange(client, notes_app, code, pkce.verifier) for _ in range(20)))
    assert sorted(r.status for r in responses) == [200] + [400] * 19
    assert await pool.fetchval("SELECT count(*) FROM oauth_access_tokens") == 1


async def test_a_reused_refresh_token_revokes_the_family(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    first = await (await exchange(client, notes_app, await get_code(alice, notes_app, pkce), pkce.verifier)).json()
    second = await (await refresh(client, notes_app, first["refresh_token"])).json()
    third = await (await refresh(client, notes_app, second["refresh_token"])).json()
    assert (await me(client, third["access_token"])).status == 200
    replay = await refresh(client, notes_app, first["refresh_token"])
    body = await replay.json()
    assert body["error"] == "invalid_grant"
    assert "every token of this grant is revoked" in body["error_description"]
    assert (await me(client, third["access_token"])).status == 401
    assert (await (await refresh(client, notes_app, third["refresh_token"])).json())["error"] == "invalid_grant"


async def test_refresh_belongs_to_its_app(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    from tests.support.oauth import register_app

    other = await register_app(pool, await pool.fetchval("SELECT id FROM users WHERE username = 'maker'"), "other")
    pkce = Pkce.new()
    tokens = await (await exchange(client, notes_app, await get_code(alice, notes_app, pkce), pkce.verifier)).json()
    stolen = await refresh(client, other, tokens["refresh_token"])
    assert (await stolen.json())["error"] == "invalid_grant"
    assert (await refresh(client, notes_app, tokens["refresh_token"])).status == 200


async def test_deactivated_app_stops_logins_and_tokens(
    alice: Browser,
    client: TestClient,
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,  # type: ignore[type-arg]
) -> None:
    pkce = Pkce.new()
    tokens = await (await exchange(client, notes_app, await get_code(alice, notes_app, pkce), pkce.verifier)).json()
    await pool.execute("UPDATE sync_apps SET is_active = false")
    refused = await me(client, tokens["access_token"])
    assert refused.status == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert (await refused.json())["detail"] == "The app of this token is deactivated."
    assert (await refresh(client, notes_app, tokens["refresh_token"])).status == 401
    page = await alice.get(authorize_path(notes_app, Pkce.new()), follow=False)
    assert query_of(page.location)["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "client_id": "x"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"grant_type": "authorization_code"}, 400, "invalid_request"),
        (
            {"grant_type": "refresh_token", "client_id": "00000000-0000-0000-0000-000000000000", "refresh_token": "x"},
            401,
            "invalid_client",
        ),
    ],
)
async def test_token_endpoint_errors_follow_rfc_6749(
    client: TestClient,
    notes_app: RegisteredApp,
    form: dict[str, str],
    status: int,
    error: str,  # type: ignore[type-arg]
) -> None:
    response = await client.post("/oauth/token", data=form)
    assert response.status == status
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert (await response.json())["error"] == error


async def test_token_endpoint_wants_a_form(client: TestClient, notes_app: RegisteredApp) -> None:  # type: ignore[type-arg]
    response = await client.post("/oauth/token", json={"grant_type": "refresh_token"})
    assert (await response.json())["error"] == "invalid_request"


@pytest.mark.parametrize("replay", ["wrong verifier", "wrong redirect_uri"])
async def test_a_replayed_code_without_its_verifier_does_not_revoke_the_tokens(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
    replay: str,
) -> None:
    """Attack: someone who read a spent code in a log (a proxy's, a crash report) presents it again with a
    verifier or redirect URI of their own; reuse detection revoked alice's tokens, signing her out."""
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    tokens = await (await exchange(client, notes_app, code, pkce.verifier)).json()
    if replay == "wrong verifier":
        attempt = await exchange(client, notes_app, code, Pkce.new().verifier)
    else:
        await pool.execute(
            "UPDATE sync_apps SET redirect_uris = redirect_uris || $2::text WHERE id = $1",
            notes_app.id,
            "https://notes.example/other",
        )
        attempt = await exchange(client, notes_app, code, pkce.verifier, redirect_uri="https://notes.example/other")
    assert attempt.status == 400
    assert (await attempt.json())["error"] == "invalid_grant"
    assert (await me(client, tokens["access_token"])).status == 200
    assert await pool.fetchval("SELECT count(*) FROM oauth_grants WHERE revoked_at IS NOT NULL") == 0


async def test_a_code_issued_before_the_user_revoked_the_app_is_void(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    pool: asyncpg.Pool,
) -> None:
    """Attack: the app got a code, the user then revoked its access on /settings/apps; the app redeemed the
    code afterwards and had fresh tokens, as if the revocation had not happened."""
    first = Pkce.new()
    await exchange(client, notes_app, await get_code(alice, notes_app, first), first.verifier)
    pkce = Pkce.new()
    code = await get_code(alice, notes_app, pkce)
    page = await alice.get("/settings/apps")
    revoked = await alice.post(f"/settings/apps/{notes_app.id}/revoke", {"csrf_token": page.csrf})
    assert revoked.location == "/settings/apps?saved=revoked"
    late = await exchange(client, notes_app, code, pkce.verifier)
    assert late.status == 400
    assert (await late.json())["error"] == "invalid_grant"
    assert await pool.fetchval("SELECT count(*) FROM oauth_grants WHERE revoked_at IS NULL") == 0


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("https://notes.example/cb", "https://notes.example"),
        ("https://notes.example:8443/cb", "https://notes.example:8443"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:*"),
        ("http://[::1]:5000/cb", "http://[::1]:*"),
        ("com.example.notes:/cb", "com.example.notes:"),
    ],
)
def test_the_consent_page_lets_its_form_redirect_to_the_app(uri: str, source: str) -> None:
    """Browsers apply CSP form-action to a form's redirect: the consent page admits the app's redirect only."""
    assert redirect_source(uri) == source


async def test_the_consent_page_policy_names_the_redirect(alice: Browser, notes_app: RegisteredApp) -> None:
    async with alice.client.get(authorize_path(notes_app, Pkce.new()), headers=alice.headers) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' http://127.0.0.1:*;" in policy
