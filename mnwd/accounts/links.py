"""Single-use links sent by email: sign-in links and email verification (password reset and email change
links, in `password_reset` and `email_change`, are made and checked with the same functions).

Tokens are random, stored as SHA-256 only, expire, and are redeemed with one UPDATE that also checks
``used_at IS NULL AND expires_at > now()``, so a link works once even when clicked twice at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.accounts import queries
from mnwd.db.jobs import Job, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Gone, NotFound, TooManyRequests
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.ratelimit import Limit
from mnwd.services import Services
from mnwd.tokens import hash_token, new_token

__all__ = [
    "LOGIN",
    "LOGIN_LINK_MAIL",
    "VERIFICATION_MAIL",
    "VERIFY_EMAIL",
    "LinkPurpose",
    "claim_unverified",
    "get_signing_in_user",
    "issue_link",
    "mail_login_link",
    "mail_signup_notice",
    "queue_email_verification",
    "queue_login_link",
    "raise_if_unusable",
    "redeem",
    "send_email_verification",
    "send_login_link",
    "send_queued_login_link",
    "send_queued_verification",
]

log = logging.getLogger(__name__)

# The durable job that mails the verification link: its payload holds the user id only, so no link secret
# is ever stored; the job makes the link when it runs (a run repeated after a crash mails a second, equally
# valid link).
VERIFICATION_MAIL = "accounts.verification_mail"

# The durable job that mails a sign-in link: its payload is the normalized address asked for, nothing else.
# The request only enqueues it, so answering takes the same work whether or not an account has that address
# (no timing difference); the job looks the account up and makes the link when it runs.
LOGIN_LINK_MAIL = "accounts.login_link_mail"


@dataclass(frozen=True)
class LinkPurpose:
    name: str
    path: str
    lifetime_minutes: int


SIGNUP_NOTICES_PER_ADDRESS = Limit("signup-notice:user", 3, 3600)

LOGIN = LinkPurpose("login", "/login/link", 15)
VERIFY_EMAIL = LinkPurpose("verify_email", "/verify-email", 48 * 60)


async def issue_link(
    services: Services, user_id: uuid.UUID, purpose: LinkPurpose, *, new_email: str | None = None
) -> str:
    """A new single-use link of ``purpose`` (its token stored hashed only)."""
    token = new_token()
    await queries.insert_login_token(
        services.pool, user_id, hash_token(token), purpose.name, purpose.lifetime_minutes, new_email=new_email
    )
    return f"{services.config.base_url}{purpose.path}/{token}"


async def mail_login_link(services: Services, email: str) -> None:
    """A sign-in link to the account of ``email``, if there is one that is not suspended (the caller answers
    the same either way)."""
    user = await queries.get_user_by_login(services.pool, email)
    if user is not None and user["suspended_at"] is None:
        await send_login_link(services, user)


async def queue_login_link(services: Services, email: str) -> None:
    """Ask for a sign-in link to ``email`` (normalized): one job, whatever the address, so the request does
    the same database work for a known and an unknown address. The queue is woken at once."""
    await enqueue(services.pool, LOGIN_LINK_MAIL, {"email": email})
    services.jobs.wake()


async def send_queued_login_link(services: Services, job: Job) -> None:
    """The job of `queue_login_link`: mails the link, or does nothing for an unknown or suspended account."""
    await mail_login_link(services, str(job.payload["email"]))


async def mail_signup_notice(services: Services, email: str) -> None:
    """Someone tried to sign up with the address of an existing account: tell its owner (at most a few times an
    hour, so the form cannot be used to flood a mailbox), not the person at the form."""
    user = await queries.get_user_by_login(services.pool, email)
    if user is None:
        return
    try:
        await services.limiter.hit(SIGNUP_NOTICES_PER_ADDRESS, str(user["id"]))
    except TooManyRequests:
        return
    text = (
        f"Hello @{user['username']},\n\n"
        "Someone tried to create a new mnwd account with this email address, which already belongs to your "
        "account. No new account was created.\n\n"
        f"If it was you: sign in at {services.config.base_url}/login, or get a sign-in link at "
        f"{services.config.base_url}/login/link if you forgot your password.\n\n"
        "If it was not you, you need not do anything.\n"
    )
    await enqueue_mail(
        services.pool, Mail(to=user["email"], subject="Someone tried to sign up with your address", text=text)
    )
    services.jobs.wake()


async def get_signing_in_user(services: Services, user_id: uuid.UUID) -> asyncpg.Record | None:
    """The account a redeemed sign-in link belongs to, or None when it was suspended meanwhile."""
    user = await queries.get_user_by_id(services.pool, user_id)
    return None if user is None or user["suspended_at"] is not None else user


async def send_login_link(services: Services, user: asyncpg.Record | Any) -> None:
    url = await issue_link(services, user["id"], LOGIN)
    text = (
        f"Hello @{user['username']},\n\n"
        f"Sign in to mnwd with this link. It works once, for {LOGIN.lifetime_minutes} minutes:\n\n{url}\n\n"
        "If you did not ask for it, ignore this mail; nobody can sign in without the link.\n"
    )
    await enqueue_mail(services.pool, Mail(to=user["email"], subject="Your mnwd sign-in link", text=text))


async def send_email_verification(services: Services, user: asyncpg.Record | Any) -> None:
    url = await issue_link(services, user["id"], VERIFY_EMAIL)
    text = (
        f"Welcome to mnwd, @{user['username']}!\n\n"
        f"Confirm that this is your email address by opening this link (valid for 48 hours):\n\n{url}\n\n"
        "If you did not create an account, ignore this mail.\n"
    )
    await enqueue_mail(services.pool, Mail(to=user["email"], subject="Confirm your email for mnwd", text=text))


async def queue_email_verification(conn: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> None:
    """In the caller's transaction: the verification mail is sent once it commits (and even if the daemon
    stops before sending it)."""
    await enqueue(conn, VERIFICATION_MAIL, {"user_id": str(user_id)})


async def send_queued_verification(services: Services, job: Job) -> None:
    """The job of `queue_email_verification`: nothing to do for an account gone or already verified."""
    user = await queries.get_user_by_id(services.pool, uuid.UUID(job.payload["user_id"]))
    if user is None or user["email_verified"]:
        return
    await send_email_verification(services, user)


async def describe(services: Services, token: str, purpose: LinkPurpose) -> str:
    """The username a still-usable link belongs to; otherwise why it cannot be used."""
    row = await queries.get_login_token_state(services.pool, hash_token(token), purpose.name)
    raise_if_unusable(row)
    assert row is not None
    username: str = row["username"]
    return username


async def redeem(services: Services, token: str, purpose: LinkPurpose) -> uuid.UUID:
    """Use the link once. A sign-in link to an account whose address was never verified also claims the
    account for the owner of the mailbox (see `claim_unverified`)."""

    async def body(tx: Tx) -> uuid.UUID | None:
        user_id = await queries.consume_login_token(tx.conn, hash_token(token), purpose.name)
        if user_id is None:
            return None
        if purpose is VERIFY_EMAIL:
            await queries.mark_email_verified(tx.conn, user_id)
        elif await queries.update_user_claimed_by_email(tx.conn, user_id):
            await claim_unverified(tx.conn, user_id)
        return user_id

    user_id = await run_tx(services.pool, f"accounts.redeem_{purpose.name}", body, metrics=services.metrics)
    if user_id is None:
        raise_if_unusable(await queries.get_login_token_state(services.pool, hash_token(token), purpose.name))
        raise Gone("This link was already used.", slug="link-used")
    return user_id


async def claim_unverified(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Whoever signed up with an address they do not own (waiting for its owner to sign in by link one day)
    must not keep a way in: the password is gone already (`update_user_claimed_by_email`); the second factor,
    the backup codes, the passkeys and every session they set up go too."""
    await queries.update_totp_disabled(conn, user_id)
    await queries.delete_backup_codes(conn, user_id)
    await queries.delete_passkeys(conn, user_id)
    await queries.revoke_other_sessions(conn, user_id, None)
    log.warning("an unverified account was claimed by a sign-in link", extra={"user_id": str(user_id)})


def raise_if_unusable(row: asyncpg.Record | None) -> None:
    if row is None:
        raise NotFound("This link is not valid. Check that you copied all of it, or ask for a new one.")
    if row["used_at"] is not None:
        raise Gone("This link was already used. Ask for a new one if you still need it.", slug="link-used")
    if row["expired"]:
        raise Gone("This link has expired. Ask for a new one.", slug="link-expired")
