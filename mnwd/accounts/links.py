"""Single-use links sent by email: sign-in links and email verification.

Tokens are random, stored as SHA-256 only, expire, and are redeemed with one UPDATE that also checks
``used_at IS NULL AND expires_at > now()``, so a link works once even when clicked twice at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.accounts import queries
from mnwd.errors import Gone, NotFound
from mnwd.mail import Mail
from mnwd.services import Services
from mnwd.tokens import hash_token

__all__ = ["LOGIN", "VERIFY_EMAIL", "LinkPurpose", "redeem", "send_email_verification", "send_login_link"]


@dataclass(frozen=True)
class LinkPurpose:
    name: str
    path: str
    lifetime_minutes: int


LOGIN = LinkPurpose("login", "/login/link", 15)
VERIFY_EMAIL = LinkPurpose("verify_email", "/verify-email", 48 * 60)


async def _issue(services: Services, user_id: uuid.UUID, purpose: LinkPurpose) -> str:
    token = secrets.token_urlsafe(32)
    await queries.insert_login_token(services.pool, user_id, hash_token(token), purpose.name, purpose.lifetime_minutes)
    return f"{services.config.base_url}{purpose.path}/{token}"


async def send_login_link(services: Services, user: asyncpg.Record | Any) -> None:
    url = await _issue(services, user["id"], LOGIN)
    text = (
        f"Hello @{user['username']},\n\n"
        f"Sign in to mnwd with this link. It works once, for {LOGIN.lifetime_minutes} minutes:\n\n{url}\n\n"
        "If you did not ask for it, ignore this mail; nobody can sign in without the link.\n"
    )
    await services.mailer.send(Mail(to=user["email"], subject="Your mnwd sign-in link", text=text))


async def send_email_verification(services: Services, user: asyncpg.Record | Any) -> None:
    url = await _issue(services, user["id"], VERIFY_EMAIL)
    text = (
        f"Welcome to mnwd, @{user['username']}!\n\n"
        f"Confirm that this is your email address by opening this link (valid for 48 hours):\n\n{url}\n\n"
        "If you did not create an account, ignore this mail.\n"
    )
    await services.mailer.send(Mail(to=user["email"], subject="Confirm your email for mnwd", text=text))


async def describe(services: Services, token: str, purpose: LinkPurpose) -> str:
    """The username a still-usable link belongs to; otherwise why it cannot be used."""
    row = await queries.get_login_token_state(services.pool, hash_token(token), purpose.name)
    _raise_if_unusable(row)
    assert row is not None
    username: str = row["username"]
    return username


async def redeem(services: Services, token: str, purpose: LinkPurpose) -> uuid.UUID:
    user_id = await queries.consume_login_token(services.pool, hash_token(token), purpose.name)
    if user_id is None:
        _raise_if_unusable(await queries.get_login_token_state(services.pool, hash_token(token), purpose.name))
        raise Gone("This link was already used.", slug="link-used")
    if purpose is VERIFY_EMAIL:
        await queries.mark_email_verified(services.pool, user_id)
    return user_id


def _raise_if_unusable(row: asyncpg.Record | None) -> None:
    if row is None:
        raise NotFound("This link is not valid. Check that you copied all of it, or ask for a new one.")
    if row["used_at"] is not None:
        raise Gone("This link was already used. Ask for a new one if you still need it.", slug="link-used")
    if row["expired"]:
        raise Gone("This link has expired. Ask for a new one.", slug="link-expired")
