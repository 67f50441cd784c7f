"""The authorization endpoint's logic: check the request, remember consent, issue the code."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from mnwd.apps import App, get_app, redirect_uri_matches
from mnwd.db.tx import Tx, run_tx
from mnwd.oauth import queries
from mnwd.oauth.errors import AuthorizeError
from mnwd.oauth.pkce import CHALLENGE_PATTERN
from mnwd.services import Services
from mnwd.tokens import hash_token, new_token

__all__ = ["SCOPES", "AuthorizeRequest", "approve", "check_request", "error_redirect", "has_consent"]

CODE_SECONDS = 300
SCOPES = {"sync": "sync your data for this app across your devices"}
DEFAULT_SCOPE = "sync"
PARAMETERS = ("response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "scope")
MAX_STATE_CHARS = 1024


@dataclass(frozen=True)
class AuthorizeRequest:
    app: App
    redirect_uri: str
    code_challenge: str
    state: str | None
    scope: str

    def as_form(self) -> dict[str, str]:
        form = {
            "response_type": "code",
            "client_id": str(self.app.id),
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "scope": self.scope,
        }
        if self.state is not None:
            form["state"] = self.state
        return form

    @property
    def scope_descriptions(self) -> list[str]:
        return [SCOPES[s] for s in self.scope.split()]


def _single(params: Mapping[str, str], counts: Mapping[str, int], name: str) -> str | None:
    if counts.get(name, 0) > 1:
        raise ValueError(name)
    return params.get(name)


async def check_request(services: Services, params: Mapping[str, str], counts: Mapping[str, int]) -> AuthorizeRequest:
    """Validate in the order RFC 6749 §4.1.2.1 asks: the client and redirect URI first (never redirect to an
    untrusted URI), then everything else, reported back to the client."""
    try:
        values = {name: _single(params, counts, name) for name in PARAMETERS}
    except ValueError as exc:
        duplicated = exc.args[0]
        if duplicated in ("client_id", "redirect_uri"):
            raise AuthorizeError("invalid_request", f"The parameter {duplicated} is given more than once.") from None
        values = {name: params.get(name) for name in PARAMETERS}
        app, redirect_uri = await _client(services, values)
        raise AuthorizeError(
            "invalid_request",
            f"The parameter {duplicated} is given more than once.",
            redirect_uri=redirect_uri,
            state=values["state"],
        ) from None
    app, redirect_uri = await _client(services, values)
    state = values["state"]

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state)

    if state is not None and len(state) > MAX_STATE_CHARS:
        raise fail("invalid_request", f"state is longer than {MAX_STATE_CHARS} characters.")
    if values["response_type"] != "code":
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    challenge = values["code_challenge"]
    if not challenge:
        raise fail("invalid_request", "code_challenge is required (PKCE with S256).")
    if values["code_challenge_method"] != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256; plain is not accepted.")
    if not CHALLENGE_PATTERN.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be the 43-character BASE64URL of a SHA-256 digest.")
    scope = " ".join(sorted(set((values["scope"] or DEFAULT_SCOPE).split())))
    unknown = [s for s in scope.split() if s not in SCOPES]
    if unknown:
        raise fail("invalid_scope", f"Unknown scope: {' '.join(unknown)}. Supported: {' '.join(SCOPES)}.")
    if not app.is_active:
        raise fail("unauthorized_client", "This app is deactivated by its developer.")
    return AuthorizeRequest(app=app, redirect_uri=redirect_uri, code_challenge=challenge, state=state, scope=scope)


async def _client(services: Services, values: Mapping[str, str | None]) -> tuple[App, str]:
    raw_id = values.get("client_id") or ""
    try:
        app = await get_app(services.pool, uuid.UUID(raw_id))
    except ValueError:
        app = None
    if app is None:
        raise AuthorizeError("invalid_client", "There is no app with this client_id.")
    redirect_uri = values.get("redirect_uri")
    if not redirect_uri:
        raise AuthorizeError("invalid_request", "redirect_uri is required.")
    if not redirect_uri_matches(redirect_uri, app.redirect_uris):
        raise AuthorizeError("invalid_request", "This redirect_uri is not registered for the app.")
    return app, redirect_uri


async def has_consent(services: Services, user_id: uuid.UUID, request: AuthorizeRequest) -> bool:
    granted = await queries.get_consent_scope(services.pool, user_id, request.app.id)
    return granted is not None and set(request.scope.split()) <= set(granted.split())


async def approve(services: Services, user_id: uuid.UUID, request: AuthorizeRequest) -> str:
    """Remember the consent, issue a code, and return where to send the browser."""
    code = new_token()

    async def record(tx: Tx) -> None:
        await queries.upsert_consent(tx.conn, user_id, request.app.id, request.scope)
        await queries.insert_code(
            tx.conn,
            app_id=request.app.id,
            user_id=user_id,
            code_hash=hash_token(code),
            code_challenge=request.code_challenge,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            lifetime_seconds=CODE_SECONDS,
        )

    await run_tx(services.pool, "oauth.approve", record, metrics=services.metrics)
    return _with_params(request.redirect_uri, {"code": code, "state": request.state, "iss": services.config.base_url})


def error_redirect(redirect_uri: str, state: str | None, error: str, description: str, issuer: str) -> str:
    return _with_params(redirect_uri, {"error": error, "error_description": description, "state": state, "iss": issuer})


def _with_params(uri: str, params: Mapping[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
