"""The token endpoint's logic: redeem codes, rotate refresh tokens, revoke, introspect.

Tokens are opaque (``mnwd_at_…`` access, ``mnwd_rt_…`` refresh), random, stored as SHA-256 only. Every
token belongs to a grant (one per authorization); reuse of a spent code or refresh token revokes the grant.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.apps import App, get_app, get_app_by_api_key
from mnwd.db.tx import Tx, run_tx
from mnwd.oauth import queries
from mnwd.oauth.bearer_cache import BEARERS
from mnwd.oauth.errors import TokenError
from mnwd.oauth.pkce import VERIFIER_PATTERN, s256
from mnwd.services import Services
from mnwd.tokens import hash_token, new_token

__all__ = ["ACCESS_SECONDS", "REFRESH_SECONDS", "TokenSet", "exchange_code", "introspect", "refresh", "revoke"]

log = logging.getLogger(__name__)

ACCESS_SECONDS = 3600
REFRESH_SECONDS = 60 * 24 * 3600
ACCESS_PREFIX = "mnwd_at_"
REFRESH_PREFIX = "mnwd_rt_"


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    scope: str

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_SECONDS,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise TokenError("invalid_request", f"{name} is required.")
    return value


async def _client(services: Services, form: Mapping[str, str]) -> App:
    raw = _required(form, "client_id")
    try:
        app = await get_app(services.pool, uuid.UUID(raw))
    except ValueError:
        app = None
    if app is None:
        raise TokenError("invalid_client", "There is no app with this client_id.", status=401)
    if not app.is_active:
        raise TokenError("invalid_client", "This app is deactivated.", status=401)
    return app


async def _issue(conn: asyncpg.Connection, grant_id: uuid.UUID, scope: str) -> TokenSet:
    access = new_token(ACCESS_PREFIX)
    refresh_token = new_token(REFRESH_PREFIX)
    await queries.insert_access_token(conn, grant_id, hash_token(access), ACCESS_SECONDS)
    await queries.insert_refresh_token(conn, grant_id, hash_token(refresh_token), REFRESH_SECONDS)
    return TokenSet(access, refresh_token, scope)


async def _user_allowed(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    suspended = await conn.fetchval("SELECT suspended_at IS NOT NULL FROM users WHERE id = $1", user_id)
    return suspended is False


async def exchange_code(services: Services, form: Mapping[str, str]) -> TokenSet:
    app = await _client(services, form)
    code = _required(form, "code")
    redirect_uri = _required(form, "redirect_uri")
    verifier = _required(form, "code_verifier")
    if not VERIFIER_PATTERN.fullmatch(verifier):
        raise TokenError("invalid_grant", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.")
    code_hash = hash_token(code)

    async def redeem(tx: Tx) -> TokenSet | None:
        row = await queries.redeem_code(
            tx.conn, code_hash=code_hash, app_id=app.id, redirect_uri=redirect_uri, code_challenge=s256(verifier)
        )
        if row is None:
            return None
        if not await _user_allowed(tx.conn, row["user_id"]):
            raise TokenError("invalid_grant", "The account that authorized this code is suspended.")
        grant_id = await queries.insert_grant(
            tx.conn, app_id=app.id, user_id=row["user_id"], code_id=row["id"], scope=row["scope"]
        )
        return await _issue(tx.conn, grant_id, row["scope"])

    issued = await run_tx(services.pool, "oauth.exchange_code", redeem, metrics=services.metrics)
    if issued is None:
        raise await _why_code_failed(services, code_hash, app, redirect_uri, verifier)
    return issued


async def _why_code_failed(
    services: Services, code_hash: bytes, app: App, redirect_uri: str, verifier: str
) -> TokenError:
    state = await queries.get_code_state(services.pool, code_hash)
    if state is None or state["app_id"] != app.id:
        return TokenError("invalid_grant", "The authorization code is not valid.")
    if state["used_at"] is not None:
        if state["redirect_uri"] != redirect_uri or state["code_challenge"] != s256(verifier):
            # Only the client that got the code holds its verifier: a replay without it (someone who read
            # the code in a log) must not be able to revoke the user's tokens.
            return TokenError("invalid_grant", "The authorization code is not valid.")
        revoked = await queries.revoke_grants_of_code(services.pool, state["id"], "authorization code reused")
        services[BEARERS].forget_all()
        log.warning("authorization code used twice; its tokens are revoked", extra={"grants_revoked": revoked})
        return TokenError("invalid_grant", "The authorization code was already used; its tokens are now revoked.")
    if state["expired"]:
        return TokenError("invalid_grant", "The authorization code has expired; authorize again.")
    if state["redirect_uri"] != redirect_uri:
        return TokenError("invalid_grant", "redirect_uri differs from the one used to get the code.")
    if state["code_challenge"] != s256(verifier):
        return TokenError("invalid_grant", "code_verifier does not match the code_challenge.")
    return TokenError("invalid_grant", "The authorization code is not valid.")


async def refresh(services: Services, form: Mapping[str, str]) -> TokenSet:
    app = await _client(services, form)
    token = _required(form, "refresh_token")
    token_hash = hash_token(token)

    async def rotate(tx: Tx) -> TokenSet | None:
        row = await queries.use_refresh_token(tx.conn, token_hash, app.id)
        if row is None:
            return None
        scope = _narrowed_scope(row["scope"], form.get("scope"))
        if not await _user_allowed(tx.conn, row["user_id"]):
            raise TokenError("invalid_grant", "The account of this grant is suspended.")
        return await _issue(tx.conn, row["grant_id"], scope)

    issued = await run_tx(services.pool, "oauth.refresh", rotate, metrics=services.metrics)
    if issued is not None:
        return issued
    state = await queries.get_refresh_token_state(services.pool, token_hash)
    if state is None or state["app_id"] != app.id:
        raise TokenError("invalid_grant", "The refresh token is not valid.")
    if state["revoked_at"] is not None:
        raise TokenError("invalid_grant", "The refresh token was revoked.")
    if state["used_at"] is not None:
        await queries.revoke_grant(services.pool, state["grant_id"], "refresh token reused")
        services[BEARERS].forget_all()
        log.warning("refresh token reused; its grant is revoked", extra={"grant_id": str(state["grant_id"])})
        raise TokenError("invalid_grant", "The refresh token was already used; every token of this grant is revoked.")
    raise TokenError("invalid_grant", "The refresh token has expired; authorize again.")


def _narrowed_scope(granted: str, requested: str | None) -> str:
    if not requested:
        return granted
    wanted = set(requested.split())
    if not wanted <= set(granted.split()):
        raise TokenError("invalid_scope", "A refresh cannot add scopes that were not granted.")
    return " ".join(sorted(wanted))


async def revoke(services: Services, form: Mapping[str, str]) -> None:
    """RFC 7009: answer 200 whether or not the token was known; revoking a refresh token ends its grant."""
    app = await _client(services, form)
    token = _required(form, "token")
    token_hash = hash_token(token)
    hint = form.get("token_type_hint")
    if hint != "access_token":
        grant_id = await queries.get_grant_of_refresh_token(services.pool, token_hash, app.id)
        if grant_id is not None:
            await queries.revoke_grant(services.pool, grant_id, "revoked by client")
            services[BEARERS].forget_all()
            return
    await queries.revoke_access_token(services.pool, token_hash, app.id)
    services[BEARERS].forget_all()


async def introspect(services: Services, api_key: str | None, token: str | None) -> dict[str, Any]:
    """RFC 7662 for the app's own backend, authenticated by its API key; other apps' tokens are inactive."""
    app = await get_app_by_api_key(services.pool, api_key) if api_key else None
    if app is None:
        raise TokenError("invalid_client", "Authenticate with the app's API key.", status=401)
    if not token:
        raise TokenError("invalid_request", "token is required.")
    row = await queries.get_access_token(services.pool, hash_token(token))
    if row is None or not _active(row) or row["app_id"] != app.id:
        return {"active": False}
    return {
        "active": True,
        "client_id": str(row["app_id"]),
        "sub": str(row["user_id"]),
        "username": row["username"],
        "scope": row["scope"],
        "token_type": "Bearer",
        "exp": int(row["expires_at"].timestamp()),
        "iat": int(row["issued_at"].timestamp()),
        "iss": services.config.base_url,
    }


def _active(row: asyncpg.Record) -> bool:
    return (
        not row["expired"]
        and row["token_revoked_at"] is None
        and row["grant_revoked_at"] is None
        and row["is_active"]
        and row["suspended_at"] is None
        and row["device_revoked_at"] is None
    )
