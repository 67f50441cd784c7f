"""Changing the account's email address: asked for (after re-authentication), confirmed from the new mailbox.

- ``request_change(services, viewer, raw)``: checks the address and a per-account limit, then enqueues the job
  ``accounts.email_change_mail`` (payload: the user id and the new address). The job makes a single-use link
  (token stored as SHA-256, 30 minutes, ``login_tokens.new_email``) and mails it to the new address. Whether
  another account has that address is not said here (that would tell anyone signed in which addresses have
  accounts); the confirmation says so, since only the owner of that mailbox gets there.
- ``confirm_change(services, token)``: in one transaction uses the link (one conditional ``UPDATE``, so two
  clicks change once), moves the account to the new address, marks it verified, ends every other unused link
  of the account (those mailed to the old address included), and enqueues ``accounts.email_changed_notice``,
  a notice to the old address. If another account took the address meanwhile (``users_email_lower_key``),
  nothing changes and the link stays usable: 409 ``email-taken``.
"""

from __future__ import annotations

import logging
import uuid

from mnwd.accounts import links, queries
from mnwd.accounts.sessions import Viewer
from mnwd.accounts.users import normalize_email
from mnwd.db.jobs import Job, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Gone, ValidationFailed
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.ratelimit import Limit
from mnwd.services import Services
from mnwd.tokens import hash_token

__all__ = [
    "CHANGE",
    "CHANGED_NOTICE",
    "CHANGE_MAIL",
    "confirm_change",
    "describe_change",
    "request_change",
    "send_changed_notice",
    "send_queued_change",
]

log = logging.getLogger(__name__)

CHANGE = links.LinkPurpose("change_email", "/settings/email/confirm", 30)
CHANGE_MAIL = "accounts.email_change_mail"
CHANGED_NOTICE = "accounts.email_changed_notice"
CHANGES_PER_USER = Limit("email-change:user", 5, 3600, "Too many address changes asked for. Wait a bit.")


async def request_change(services: Services, viewer: Viewer, raw: str) -> str:
    """The normalized new address, its confirmation mail queued."""
    email = normalize_email(raw)
    if email is None:
        raise ValidationFailed(
            "The address was not changed.", errors=[{"field": "email", "message": "Enter one email address."}]
        )
    if email.lower() == viewer.email.lower():
        raise ValidationFailed(
            "The address was not changed.", errors=[{"field": "email", "message": "This is already your address."}]
        )
    await services.limiter.hit(CHANGES_PER_USER, str(viewer.user_id))
    await enqueue(services.pool, CHANGE_MAIL, {"user_id": str(viewer.user_id), "new_email": email})
    services.jobs.wake()
    return email


async def send_queued_change(services: Services, job: Job) -> None:
    user = await queries.get_user_by_id(services.pool, uuid.UUID(job.payload["user_id"]))
    new_email = str(job.payload["new_email"])
    if user is None or user["suspended_at"] is not None or user["email"].lower() == new_email.lower():
        return
    url = await links.issue_link(services, user["id"], CHANGE, new_email=new_email)
    text = (
        f"Hello @{user['username']},\n\n"
        f"Confirm that mnwd should use this address for your account from now on. The link works once, for "
        f"{CHANGE.lifetime_minutes} minutes:\n\n{url}\n\n"
        "If you did not ask for it, ignore this mail; nothing changes.\n"
    )
    await enqueue_mail(services.pool, Mail(to=new_email, subject="Confirm your new email for mnwd", text=text))


async def describe_change(services: Services, token: str) -> tuple[str, str]:
    """The username and new address of a still-usable link; otherwise `NotFound` or `Gone`."""
    row = await queries.get_login_token_state(services.pool, hash_token(token), CHANGE.name)
    links.raise_if_unusable(row)
    assert row is not None
    return str(row["username"]), str(row["new_email"])


async def confirm_change(services: Services, token: str) -> str:
    """Use the link: the account's new address."""
    token_hash = hash_token(token)

    async def body(tx: Tx) -> str | None:
        row = await queries.consume_email_change_token(tx.conn, token_hash)
        if row is None:
            return None
        user_id, new_email = row["user_id"], row["new_email"]
        old_email = await queries.update_user_email(tx.conn, user_id, new_email)
        if old_email is None:
            raise Conflict(
                f"{new_email} now belongs to another account, so your address was not changed.", slug="email-taken"
            )
        await queries.expire_login_tokens(tx.conn, user_id, ["login", "verify_email", "reset_password", CHANGE.name])
        await enqueue(
            tx.conn, CHANGED_NOTICE, {"user_id": str(user_id), "old_email": old_email, "new_email": new_email}
        )
        return str(new_email)

    new_email = await run_tx(services.pool, "accounts.change_email", body, metrics=services.metrics)
    if new_email is None:
        links.raise_if_unusable(await queries.get_login_token_state(services.pool, token_hash, CHANGE.name))
        raise Gone("This link was already used.", slug="link-used")
    services.jobs.wake()
    return new_email


async def send_changed_notice(services: Services, job: Job) -> None:
    """To the old address: the account moved (so its owner hears of a change they did not make)."""
    user = await queries.get_user_by_id(services.pool, uuid.UUID(job.payload["user_id"]))
    if user is None:
        return
    text = (
        f"Hello @{user['username']},\n\n"
        f"The email address of your mnwd account was changed from {job.payload['old_email']} to "
        f"{job.payload['new_email']}. Mail about your account goes there from now on.\n\n"
        "If you did not make this change, someone else may have been signed in to your account: write to the "
        f"operators of this site at once ({services.config.base_url}).\n"
    )
    await enqueue_mail(
        services.pool,
        Mail(to=str(job.payload["old_email"]), subject="The email of your mnwd account was changed", text=text),
    )
