"""Signed-in sessions: who is viewing, starting a session at sign-in, ending and listing sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from mnwd.accounts import queries
from mnwd.tokens import hash_token
from mnwd.web.browser import browser_token, rotate_browser_token, save_state
from mnwd.web.client_address import client_address
from mnwd.web.keys import SERVICES
from mnwd.web.pages import login_redirect

__all__ = ["Viewer", "end_session", "get_viewer", "page_context", "require_viewer", "start_session"]

SESSION_DAYS = 30
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID
    session_id: uuid.UUID
    username: str
    email: str
    display_name: str | None
    email_verified: bool
    totp_enabled: bool
    is_admin: bool
    can_create_projects: bool
    has_password: bool
    notify: dict[str, bool]
    # When this session last proved a password, passkey or TOTP code (`mnwd.accounts.reauth`).
    reauthenticated_at: datetime | None = None
    # "password", "passkey", "link" or "signup", and when.
    signed_in_by: str = "password"
    signed_in_at: datetime | None = None

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> Viewer:
        return cls(
            user_id=row["id"],
            session_id=row["session_id"],
            username=row["username"],
            email=row["email"],
            display_name=row["display_name"],
            email_verified=row["email_verified"],
            totp_enabled=row["totp_enabled"],
            is_admin=row["is_admin"],
            can_create_projects=row["can_create_projects"],
            has_password=row["password_hash"] is not None,
            notify={k: row[k] for k in ("notify_sale", "notify_follower", "notify_release", "notify_issues")},
            reauthenticated_at=row["reauthenticated_at"],
            signed_in_by=row["signed_in_by"],
            signed_in_at=row["signed_in_at"],
        )


@dataclass(frozen=True)
class _Looked:
    viewer: Viewer | None


VIEWER_KEY = web.RequestKey("viewer", _Looked)


async def get_viewer(request: web.Request) -> Viewer | None:
    """The signed-in user of this request (one query, cached on the request)."""
    if VIEWER_KEY in request:
        return request[VIEWER_KEY].viewer
    token = browser_token(request)
    viewer = None
    if token is not None:
        pool = request.app[SERVICES].pool
        row = await queries.get_session_viewer(pool, hash_token(token))
        if row is not None:
            viewer = Viewer.from_record(row)
            if request.app[SERVICES].clock.now() - row["last_seen_at"] > TOUCH_EVERY:
                await queries.touch_user_session(pool, viewer.session_id, client_address(request))
    request[VIEWER_KEY] = _Looked(viewer)
    return viewer


async def require_viewer(request: web.Request) -> Viewer:
    """The signed-in user; anyone else is sent to sign in and brought back."""
    viewer = await get_viewer(request)
    if viewer is None:
        raise login_redirect(request)
    return viewer


async def page_context(request: web.Request) -> dict[str, Any]:
    """What every page's template knows of accounts: who is viewing."""
    return {"viewer": await get_viewer(request)}


async def start_session(
    request: web.Request, user_id: uuid.UUID, *, signed_in_by: str = "password", proven: bool = True
) -> uuid.UUID:
    """Sign in: drop pending state, rotate the cookie token (no fixation), record the session. ``proven``:
    the sign-in checked a password, passkey or TOTP code (or was a link to an account without a password),
    so it counts as a recent authentication (`mnwd.accounts.reauth`)."""
    pool = request.app[SERVICES].pool
    await save_state(request, {})
    old = browser_token(request)
    if old is not None:
        await queries.revoke_session_by_token(pool, hash_token(old))
    token = rotate_browser_token(request)
    session_id = await queries.insert_user_session(
        pool,
        user_id=user_id,
        token_hash=hash_token(token),
        user_agent=request.headers.get("User-Agent", "")[:512] or None,
        ip_address=client_address(request),
        lifetime_days=SESSION_DAYS,
        signed_in_by=signed_in_by,
        reauthenticated=proven,
    )
    await queries.reset_login_attempts(pool, user_id)
    request.pop(VIEWER_KEY, None)
    return session_id


async def end_session(request: web.Request) -> None:
    token = browser_token(request)
    if token is not None:
        await save_state(request, {})
        await queries.revoke_session_by_token(request.app[SERVICES].pool, hash_token(token))
    rotate_browser_token(request)
    request[VIEWER_KEY] = _Looked(None)


def describe_user_agent(user_agent: str | None) -> dict[str, Any]:
    from ua_parser import parse

    if not user_agent:
        return {"browser": "Unknown browser", "os": "unknown system"}
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Unknown browser"
    system = result.os.family if result.os else "unknown system"
    return {"browser": browser, "os": system}


async def sweep_expired_sessions(pool: asyncpg.Pool) -> int:
    return await queries.delete_expired_sessions(pool)
