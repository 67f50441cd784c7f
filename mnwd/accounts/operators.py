"""What operators do from the command line: create, list and suspend accounts, set a password, grant and
revoke roles; create, list and revoke a user's personal access tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mnwd.accounts import personal_tokens, queries
from mnwd.accounts.passwords import PASSWORDS, password_problem
from mnwd.accounts.users import create_user
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import Services

__all__ = [
    "ROLES",
    "UserSummary",
    "create_account",
    "create_token_for",
    "list_accounts",
    "list_tokens_of",
    "revoke_token_of",
    "set_password",
    "set_role",
    "set_suspended",
]

ROLES = ("creator", "admin")


@dataclass(frozen=True)
class UserSummary:
    username: str
    email: str
    email_verified: bool
    roles: tuple[str, ...]
    two_factor: bool
    suspended_at: datetime | None
    created_at: datetime

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> UserSummary:
        roles = tuple(r for r, on in (("admin", row["is_admin"]), ("creator", row["can_create_projects"])) if on)
        return cls(
            username=row["username"],
            email=row["email"],
            email_verified=row["email_verified"],
            roles=roles,
            two_factor=row["totp_enabled"],
            suspended_at=row["suspended_at"],
            created_at=row["created_at"],
        )


def _no_such_user(username: str) -> NotFound:
    return NotFound(f"There is no user named {username!r}.")


async def create_account(
    services: Services, username: str, email: str, password: str | None, *, is_admin: bool, creator: bool
) -> uuid.UUID:
    user = await create_user(
        services.pool,
        services[PASSWORDS],
        username=username,
        email=email,
        password=password,
        is_admin=is_admin,
        can_create_projects=creator,
        email_verified=True,
    )
    user_id: uuid.UUID = user["id"]
    return user_id


async def set_suspended(services: Services, username: str, suspended: bool) -> None:
    async def change(tx: Tx) -> None:
        user_id = await queries.set_suspended(tx.conn, username.lower(), suspended)
        if user_id is None:
            raise _no_such_user(username)
        if suspended:
            await queries.revoke_other_sessions(tx.conn, user_id, keep=None)

    await run_tx(services.pool, "accounts.set_suspended", change, metrics=services.metrics)


async def list_accounts(services: Services) -> list[UserSummary]:
    return [UserSummary.from_record(r) for r in await queries.list_users_for_operators(services.pool)]


async def set_password(services: Services, username: str, password: str) -> None:
    """Set the password (its rules apply), clear any lockout, and sign the account out everywhere."""
    username = username.strip().lower()
    user = await queries.get_user_by_username(services.pool, username)
    if user is None:
        raise _no_such_user(username)
    if problem := password_problem(password, username=user["username"], email=user["email"]):
        raise ValidationFailed("The password was not set.", errors=[{"field": "password", "message": problem}])
    password_hash = await services[PASSWORDS].hash(password)

    async def change(tx: Tx) -> None:
        user_id = await queries.set_user_password_by_operator(tx.conn, username, password_hash)
        if user_id is None:
            raise _no_such_user(username)
        await queries.revoke_other_sessions(tx.conn, user_id, keep=None)

    await run_tx(services.pool, "accounts.set_password", change, metrics=services.metrics)


async def set_role(services: Services, username: str, role: str, granted: bool) -> None:
    if role not in ROLES:
        raise ValueError(role)
    if await queries.update_user_role(services.pool, username.strip().lower(), role, granted) is None:
        raise _no_such_user(username)


async def _user_id(services: Services, username: str) -> uuid.UUID:
    user = await queries.get_user_by_username(services.pool, username.strip().lower())
    if user is None:
        raise _no_such_user(username)
    user_id: uuid.UUID = user["id"]
    return user_id


async def create_token_for(
    services: Services, username: str, *, name: str, scopes: list[str], expires_days: int | None
) -> personal_tokens.IssuedToken:
    user_id = await _user_id(services, username)
    return await personal_tokens.create_token(services, user_id, name=name, scopes=scopes, expires_days=expires_days)


async def list_tokens_of(services: Services, username: str) -> list[personal_tokens.PersonalToken]:
    return await personal_tokens.list_tokens(services, await _user_id(services, username))


async def revoke_token_of(services: Services, username: str, token_id: str) -> None:
    user_id = await _user_id(services, username)
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        raise NotFound(personal_tokens.NO_SUCH_TOKEN) from None
    await personal_tokens.revoke_token(services, user_id, parsed)
