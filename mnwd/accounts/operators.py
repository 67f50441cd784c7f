"""What operators do from the command line: create accounts, suspend and unsuspend them."""

from __future__ import annotations

import uuid

from mnwd.accounts import queries
from mnwd.accounts.passwords import PASSWORDS
from mnwd.accounts.users import create_user
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound
from mnwd.services import Services

__all__ = ["create_account", "set_suspended"]


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
            raise NotFound(f"There is no user named {username!r}.")
        if suspended:
            await queries.revoke_other_sessions(tx.conn, user_id, keep=None)

    await run_tx(services.pool, "accounts.set_suspended", change, metrics=services.metrics)
