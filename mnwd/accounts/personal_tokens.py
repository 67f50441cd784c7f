"""Personal access tokens: a user's own bearer tokens for the JSON API (``/api/v1``), each with a name,
scopes from `mnwd.accounts.token_scopes`, an optional expiry, and the time it was last used.

- ``create_token(services, user_id, name=, scopes=, expires_days=)`` → `IssuedToken`: the secret
  (``mnwd_pat_…``) is returned once; the database keeps only its SHA-256. Bad input raises
  ``ValidationFailed`` per field and writes nothing; a user holds at most `MAX_LIVE_TOKENS` live tokens
  (counted under a lock on the user's row, so two creations at once cannot both pass the count).
- ``list_tokens``, ``revoke_token`` (``NotFound`` for a token that is not the user's: someone else's id is
  answered like one that does not exist). After a revocation commits, the hooks of
  `on_personal_token_revoked` run in this daemon (oauth forgets its remembered token checks at once); other
  daemons forget on the trigger's notification (migration 0017).
- ``check_token(services, token)`` → `TokenCaller`, or `TokenRefused` saying why (unknown, expired,
  revoked, account suspended): one query.
- ``note_token_used(services, caller)``: records ``last_used_at`` at most once per `LAST_USED_EVERY`
  seconds per token and daemon, so an API request usually writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from mnwd.accounts import queries
from mnwd.accounts.token_scopes import TOKEN_SCOPES, unknown_scopes
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import ServiceKey, Services
from mnwd.tokens import hash_token, new_token

__all__ = [
    "MAX_LIVE_TOKENS",
    "TOKEN_PREFIX",
    "IssuedToken",
    "PersonalToken",
    "TokenCaller",
    "TokenRefused",
    "check_token",
    "create_token",
    "is_personal_token",
    "list_tokens",
    "note_token_used",
    "on_personal_token_revoked",
    "revoke_token",
]

TOKEN_PREFIX = "mnwd_pat_"
MAX_NAME_CHARS = 100
MAX_EXPIRES_DAYS = 3650
MAX_LIVE_TOKENS = 50
LAST_USED_EVERY = 60.0
NO_SUCH_TOKEN = "There is no such token."

RevokeHook = Callable[[], None]


class TokenRefused(Exception):
    """A personal access token that does not authenticate; the message says why, for the 401."""


@dataclass(frozen=True)
class PersonalToken:
    id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> PersonalToken:
        return cls(
            id=row["id"],
            name=row["name"],
            scopes=tuple(row["scopes"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
        )


@dataclass(frozen=True)
class IssuedToken:
    """A new token with its secret: shown once, then only its hash is left."""

    token: PersonalToken
    secret: str


@dataclass(frozen=True)
class TokenCaller:
    """Who calls the API with a personal access token, as checked."""

    token_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    display_name: str | None
    scope: frozenset[str]
    expires_at: datetime | None


class TokenUse:
    """When this daemon last wrote each token's ``last_used_at`` (monotonic seconds)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.written: dict[uuid.UUID, float] = {}
        self.max_entries = max_entries


REVOKE_HOOKS = ServiceKey("accounts.token_revoke_hooks", list[RevokeHook])
TOKEN_USE = ServiceKey("accounts.token_use", TokenUse)


def is_personal_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def _check_input(name: str, scopes: list[str], expires_days: int | None) -> list[dict[str, str]]:
    errors = []
    if not name or len(name) > MAX_NAME_CHARS or any(ord(c) < 32 for c in name):
        errors.append(
            {"field": "name", "message": f"Give the token a name of 1 to {MAX_NAME_CHARS} printable characters."}
        )
    if not scopes:
        errors.append({"field": "scopes", "message": "Choose at least one scope."})
    elif unknown := unknown_scopes(scopes):
        errors.append(
            {"field": "scopes", "message": f"Unknown scope: {' '.join(unknown)}. Known: {' '.join(TOKEN_SCOPES)}."}
        )
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        errors.append({"field": "expires", "message": f"Expire the token after 1 to {MAX_EXPIRES_DAYS} days."})
    return errors


async def create_token(
    services: Services, user_id: uuid.UUID, *, name: str, scopes: list[str], expires_days: int | None
) -> IssuedToken:
    name = name.strip()
    scopes = sorted(set(scopes))
    errors = _check_input(name, scopes, expires_days)
    if errors:
        raise ValidationFailed("The token was not created.", errors=errors)
    expires_at = None if expires_days is None else services.clock.now() + timedelta(days=expires_days)
    secret = new_token(TOKEN_PREFIX)

    async def create(tx: Tx) -> asyncpg.Record:
        if not await queries.lock_user(tx.conn, user_id):
            raise NotFound("There is no such user.")
        if await queries.count_live_personal_tokens(tx.conn, user_id) >= MAX_LIVE_TOKENS:
            raise ValidationFailed(
                "The token was not created.",
                errors=[{"field": "name", "message": f"You have {MAX_LIVE_TOKENS} tokens: revoke one first."}],
            )
        return await queries.insert_personal_token(
            tx.conn, user_id, name=name, token_hash=hash_token(secret), scopes=scopes, expires_at=expires_at
        )

    row = await run_tx(services.pool, "accounts.create_token", create, metrics=services.metrics)
    return IssuedToken(PersonalToken.from_record(row), secret)


async def list_tokens(services: Services, user_id: uuid.UUID) -> list[PersonalToken]:
    return [PersonalToken.from_record(r) for r in await queries.list_personal_tokens(services.pool, user_id)]


async def revoke_token(services: Services, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    async def revoke(tx: Tx) -> None:
        if not await queries.revoke_personal_token(tx.conn, user_id, token_id):
            raise NotFound(NO_SUCH_TOKEN)
        for hook in services[REVOKE_HOOKS]:
            tx.after_commit(hook)

    await run_tx(services.pool, "accounts.revoke_token", revoke, metrics=services.metrics)


def on_personal_token_revoked(services: Services, hook: RevokeHook) -> None:
    """Have ``hook()`` called in this daemon after a personal access token is revoked here."""
    services[REVOKE_HOOKS].append(hook)


async def check_token(services: Services, token: str) -> TokenCaller:
    row = await queries.get_personal_token(services.pool, hash_token(token))
    if row is None:
        raise TokenRefused("The access token is not valid.")
    if row["revoked_at"] is not None:
        raise TokenRefused("The access token was revoked.")
    if row["expired"]:
        raise TokenRefused("The access token has expired; create a new one.")
    if row["suspended_at"] is not None:
        raise TokenRefused("The account of this token is suspended.")
    return TokenCaller(
        token_id=row["id"],
        user_id=row["user_id"],
        username=row["username"],
        display_name=row["display_name"],
        scope=frozenset(row["scopes"]),
        expires_at=row["expires_at"],
    )


async def note_token_used(services: Services, caller: TokenCaller) -> None:
    use = services[TOKEN_USE]
    now = services.clock.monotonic()
    last = use.written.get(caller.token_id)
    if last is not None and now - last < LAST_USED_EVERY:
        return
    if len(use.written) >= use.max_entries:
        use.written.clear()
    use.written[caller.token_id] = now
    await queries.update_personal_token_used(services.pool, caller.token_id)
