"""Grants (one authorization of an app by a user): what the user sees and revokes on /settings/apps, and
what other domains may do with one."""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound
from mnwd.oauth import queries
from mnwd.oauth.bearer_cache import BEARERS
from mnwd.services import Services

__all__ = ["NO_ACCESS", "bind_device", "list_authorized_apps", "revoke_app_access"]

NO_ACCESS = "This app has no access to your account."


async def bind_device(conn: asyncpg.Pool | asyncpg.Connection, grant_id: uuid.UUID, device_id: uuid.UUID) -> bool:
    """Tie the grant's tokens to a sync device, so revoking the device refuses them at once."""
    return await queries.bind_grant_device(conn, grant_id, device_id)


async def list_authorized_apps(services: Services, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await queries.list_authorized_apps(services.pool, user_id)


async def revoke_app_access(services: Services, user_id: uuid.UUID, app_id: uuid.UUID) -> None:
    """Revoke every grant of the app for the user; its tokens stop working at once in this daemon (and in
    the others when their triggers' notification arrives). Codes issued but not yet redeemed die too, so
    an app that was mid-flight when the user revoked it cannot come back with one."""

    async def revoke(tx: Tx) -> bool:
        return await queries.revoke_app_access(tx.conn, user_id, app_id)

    if not await run_tx(services.pool, "oauth.revoke_app_access", revoke, metrics=services.metrics):
        raise NotFound(NO_ACCESS)
    services[BEARERS].forget_all()
