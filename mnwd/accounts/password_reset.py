"""Forgot password: a reset link by email, and setting a new password with it.

- ``queue_reset(services, email)``: the request only enqueues the job ``accounts.password_reset_mail`` (payload:
  the normalized address, no token), so it does the same work, and takes as long, whether or not the
  address has an account; the job (`send_queued_reset`) looks the account up and mails a link, or does
  nothing for an unknown or suspended one.
- The link (``/login/reset/<token>``) is a random 256-bit token stored as SHA-256, works once, for
  ``RESET.lifetime_minutes``; opening it shows a form (mail scanners fetching it use nothing).
- ``reset_password(services, token, new=, confirm=)``: checks the new password's rules first (nothing is
  used up by a refused password), then in one transaction uses the link (one conditional ``UPDATE``, so two
  posts at once reset once), stores the new hash, signs out every session and ends the other sign-in and
  reset links. It signs nobody in: the next sign-in asks for the new password and, if 2FA is on, the code,
  so a reset never passes the second factor. An account whose address was never verified is claimed by the
  mailbox's owner as a sign-in link claims it (`links.claim_unverified`: its 2FA, backup codes, passkeys go).
"""

from __future__ import annotations

import logging
import uuid

from mnwd.accounts import links, queries
from mnwd.accounts.passwords import PASSWORDS, password_problem
from mnwd.db.jobs import Job, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Gone, ValidationFailed
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.services import Services
from mnwd.tokens import hash_token

__all__ = ["RESET", "RESET_MAIL", "describe_reset", "queue_reset", "reset_password", "send_queued_reset"]

log = logging.getLogger(__name__)

RESET_MAIL = "accounts.password_reset_mail"
RESET = links.LinkPurpose("reset_password", "/login/reset", 30)


async def queue_reset(services: Services, email: str) -> None:
    await enqueue(services.pool, RESET_MAIL, {"email": email})
    services.jobs.wake()


async def send_queued_reset(services: Services, job: Job) -> None:
    user = await queries.get_user_by_login(services.pool, str(job.payload["email"]))
    if user is None or user["suspended_at"] is not None:
        return
    url = await links.issue_link(services, user["id"], RESET)
    text = (
        f"Hello @{user['username']},\n\n"
        f"Someone asked to reset the password of your mnwd account. Choose a new password with this link. "
        f"It works once, for {RESET.lifetime_minutes} minutes:\n\n{url}\n\n"
        "Resetting the password signs out every session. If two-factor authentication is on, it is still "
        "asked at the next sign-in.\n\n"
        "If you did not ask for it, ignore this mail; your password stays as it is.\n"
    )
    await enqueue_mail(services.pool, Mail(to=user["email"], subject="Reset your mnwd password", text=text))


async def describe_reset(services: Services, token: str) -> str:
    """The username of a still-usable reset link; otherwise `NotFound` or `Gone`."""
    return await links.describe(services, token, RESET)


async def reset_password(services: Services, token: str, *, new: str, confirm: str) -> None:
    token_hash = hash_token(token)
    state = await queries.get_login_token_state(services.pool, token_hash, RESET.name)
    links.raise_if_unusable(state)
    assert state is not None
    if problem := password_problem(new, username=state["username"], email=state["email"]):
        raise ValidationFailed("The password was not changed.", errors=[{"field": "new_password", "message": problem}])
    if new != confirm:
        raise ValidationFailed(
            "The password was not changed.",
            errors=[{"field": "new_password_confirm", "message": "The two passwords differ."}],
        )
    password_hash = await services[PASSWORDS].hash(new)

    async def body(tx: Tx) -> uuid.UUID | None:
        user_id = await queries.consume_login_token(tx.conn, token_hash, RESET.name)
        if user_id is None:
            return None
        if await queries.update_user_claimed_by_email(tx.conn, user_id):
            await links.claim_unverified(tx.conn, user_id)
        await queries.update_password_hash(tx.conn, user_id, password_hash, changed=True)
        await queries.revoke_other_sessions(tx.conn, user_id, None)
        await queries.clear_failed_logins(tx.conn, user_id)
        await queries.expire_login_tokens(tx.conn, user_id, ["login", RESET.name])
        return user_id

    user_id = await run_tx(services.pool, "accounts.reset_password", body, metrics=services.metrics)
    if user_id is None:
        links.raise_if_unusable(await queries.get_login_token_state(services.pool, token_hash, RESET.name))
        raise Gone("This link was already used.", slug="link-used")
    log.info("password reset by emailed link", extra={"user_id": str(user_id)})
