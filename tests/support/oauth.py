"""OAuth apps and the PKCE code flow: ``notes_app``, ``register_app``, ``get_code``, ``exchange``..."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.oauth.pkce import s256
from tests.support.accounts import MakeUser
from tests.support.browser import Browser

REDIRECT = "http://127.0.0.1/callback"
WEB_REDIRECT = "https://notes.example/oauth/callback"
FORM_FIELD = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@dataclass(frozen=True)
class RegisteredApp:
    id: uuid.UUID
    api_key: str


async def register_app(pool: asyncpg.Pool, creator_id: uuid.UUID, slug: str = "notes") -> RegisteredApp:
    api_key = "mnwd_sk_" + secrets.token_urlsafe(32)
    app_id = await pool.fetchval(
        """
        INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix, redirect_uris)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
        """,
        creator_id,
        slug.title(),
        slug,
        hashlib.sha256(api_key.encode()).digest(),
        api_key[:12],
        [REDIRECT, WEB_REDIRECT],
    )
    return RegisteredApp(app_id, api_key)


@pytest.fixture
async def notes_app(make_user: MakeUser, pool: asyncpg.Pool) -> RegisteredApp:
    maker = await make_user("maker", can_create_projects=True)
    return await register_app(pool, maker["id"])


@dataclass
class Pkce:
    verifier: str

    @classmethod
    def new(cls) -> Pkce:
        return cls(secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


def authorize_path(app: RegisteredApp, pkce: Pkce | None, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": str(app.id),
        "redirect_uri": REDIRECT,
        "code_challenge": pkce.challenge if pkce else None,
        "code_challenge_method": "S256",
        "state": "xyz-state",
        "scope": "sync",
    }
    params.update(overrides)
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def query_of(location: str | None) -> dict[str, str]:
    assert location is not None
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(browser: Browser, app: RegisteredApp, pkce: Pkce, **overrides: str | None) -> str:
    """Authorize as the signed-in browser user, consenting when asked; returns the code."""
    page = await browser.get(authorize_path(app, pkce, **overrides), follow=False)
    if page.status == 200:
        form = {name: unescape(value) for name, value in FORM_FIELD.findall(page.text)}
        page = await browser.post("/oauth/authorize", {**form, "decision": "allow"})
    assert page.status == 303, page.text
    params = query_of(page.location)
    assert "code" in params, params
    return params["code"]


async def exchange(client: TestClient, app: RegisteredApp, code: str, verifier: str, redirect_uri: str = REDIRECT):  # type: ignore[no-untyped-def,type-arg]
    return await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": str(app.id),
            "code_verifier": verifier,
        },
    )


async def refresh(client: TestClient, app: RegisteredApp, token: str):  # type: ignore[no-untyped-def,type-arg]
    return await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": str(app.id)}
    )


async def me(client: TestClient, access_token: str):  # type: ignore[no-untyped-def,type-arg]
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {access_token}"})


async def tokens_for(alice: Browser, client: TestClient, app: RegisteredApp) -> dict[str, str]:  # type: ignore[type-arg]
    pkce = Pkce.new()
    response = await exchange(client, app, await get_code(alice, app, pkce), pkce.verifier)
    assert response.status == 200
    body: dict[str, str] = await response.json()
    return body
