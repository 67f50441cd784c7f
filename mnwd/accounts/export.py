"""The account's data as one JSON document (``GET /settings/export``).

``export_account(services, viewer) -> bytes``: the account's own rows: the user row without its secrets
(password hash, TOTP secret, Stripe ids and lockout counters are left out; ``has_password`` says whether there
is a password), sessions (no token hashes), passkeys (names, dates and transports; no credential or public
key), apps it registered (no API key hash, no OTA secret key), the grants it gave apps, its sync devices,
and per app how much it syncs (counts, not the data, which apps keep end-to-end encrypted). Every query is
filtered by the viewer's user id, so no one else's rows can appear.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from mnwd.accounts import queries
from mnwd.accounts.sessions import Viewer
from mnwd.services import Services

__all__ = ["FORMAT_VERSION", "export_account"]

FORMAT_VERSION = 1


def _rows(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(row) for row in rows]


async def export_account(services: Services, viewer: Viewer) -> bytes:
    async with services.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        user = await queries.export_user(conn, viewer.user_id)
        document = {
            "format": "mnwd-account-export",
            "version": FORMAT_VERSION,
            "exported_at": services.clock.now(),
            "user": dict(user) if user is not None else None,
            "sessions": _rows(await queries.export_sessions(conn, viewer.user_id)),
            "passkeys": _rows(await queries.export_passkeys(conn, viewer.user_id)),
            "apps": _rows(await queries.export_apps(conn, viewer.user_id)),
            "grants": _rows(await queries.export_grants(conn, viewer.user_id)),
            "devices": _rows(await queries.export_devices(conn, viewer.user_id)),
            "sync_streams": _rows(await queries.export_sync_streams(conn, viewer.user_id)),
        }
    return orjson.dumps(document, default=_plain, option=orjson.OPT_INDENT_2)


def _plain(value: object) -> str:
    # asyncpg's UUID type is not the standard library's, which orjson knows.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not exportable")
