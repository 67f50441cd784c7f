"""Mailing lists and their subscribers: what the creator's pages and API, the public signup form and the
confirm and unsubscribe links do.

A project has at most one list of each type the schema knows (``content``, ``devlog``, ``patches``;
``mailing_lists_project_id_list_type_key``): `create_list` takes the first free type unless one is asked for.
Only the project's creator sees or changes a list; anyone else's id is answered "not found".

Signups (`subscribe`) follow double opt-in: a new or returning address becomes a *pending* subscriber with a
fresh confirmation token, mailed to it; ``POST /lists/confirm/{token}`` confirms it (a GET only shows the
button, so a mail scanner following links confirms nobody). The caller learns nothing about the address:
new, pending, confirmed, unsubscribed and suppressed addresses all get the same answer, and suppressed ones
no mail. Signed-in users subscribe themselves, confirmed at once with their account's address.

Races handled: two signups of one address at once meet on the unique index ``(list_id, lower(email))`` through
``INSERT ... ON CONFLICT``, so one row exists and each gets a token (the later one wins; a mail with the
earlier token then confirms nothing). A confirmation and an unsubscribe at once are single UPDATEs on the row.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from mnwd.mail import Mail, check_mailbox
from mnwd.mailing import queries, sending
from mnwd.mailing.links import (
    confirm_url,
    list_headers,
    new_confirm_token,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)
from mnwd.ratelimit import Limit
from mnwd.services import Services
from mnwd.tokens import hash_token

__all__ = [
    "LIST_TYPES",
    "NO_SUCH_LIST",
    "NO_SUCH_PROJECT",
    "add_subscriber",
    "confirm_subscription",
    "create_list",
    "delete_list",
    "find_confirmation",
    "find_unsubscription",
    "list_mail_headers",
    "lists_of_project",
    "normalize_email",
    "projects_with_lists",
    "public_list",
    "remove_subscriber",
    "rename_list",
    "require_owned_list",
    "require_owned_project",
    "signup_lists",
    "subscribe",
    "subscribe_user",
    "subscribers_page",
    "unsubscribe",
    "unsubscribe_link",
]

LIST_TYPES = ("content", "devlog", "patches")
NO_SUCH_LIST = "There is no such list."
NO_SUCH_PROJECT = "There is no such project."
MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254
# The schema's own check (mailing_list_subscribers_email_format), and a dot in the domain.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PLAIN_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SUBSCRIBE_PER_IP = Limit("mailing.subscribe:ip", 20, 3600, "Too many signups from here. Try again later.")
# Past this, further signups of one address to one list answer the same but mail nothing (no mail bombing).
CONFIRM_MAILS_PER_ADDRESS = Limit("mailing.subscribe:address", 3, 86400)


def normalize_email(raw: str) -> str | None:
    """The address as given, trimmed, or ``None`` if it is not one plain address."""
    email = raw.strip()
    if not email or len(email) > MAX_EMAIL_CHARS or not EMAIL_PATTERN.match(email):
        return None
    if PLAIN_EMAIL.match(email):
        return email  # the common case, without the slower parse below (an import checks 50,000)
    try:
        check_mailbox(email)
    except ValueError:
        return None
    return email


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("The list needs a name.", errors=[{"field": "name", "message": "Give the list a name."}])
    if len(name) > MAX_NAME_CHARS or any(c < " " or c == "\x7f" for c in name):
        raise ValidationFailed(
            "The name is too long or holds control characters.",
            errors=[{"field": "name", "message": f"At most {MAX_NAME_CHARS} characters, on one line."}],
        )
    return name


async def require_owned_project(pool: asyncpg.Pool, user_id: uuid.UUID, project_id: uuid.UUID) -> asyncpg.Record:
    project = await queries.get_project(pool, project_id)
    if project is None or project["user_id"] != user_id:
        raise NotFound(NO_SUCH_PROJECT)
    return project


async def require_owned_list(pool: asyncpg.Pool, user_id: uuid.UUID, list_id: uuid.UUID) -> asyncpg.Record:
    found = await queries.get_list(pool, list_id)
    if found is None or found["owner_id"] != user_id:
        raise NotFound(NO_SUCH_LIST)
    return found


async def lists_of_project(services: Services, user_id: uuid.UUID, project_id: uuid.UUID) -> list[asyncpg.Record]:
    await require_owned_project(services.pool, user_id, project_id)
    return await queries.list_lists(services.pool, project_id)


async def projects_with_lists(services: Services, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The creator's projects, each with its lists and their counts."""
    projects = await queries.list_projects_of(services.pool, user_id)
    return [{"project": p, "lists": await queries.list_lists(services.pool, p["id"])} for p in projects]


async def signup_lists(services: Services, project_id: uuid.UUID) -> list[asyncpg.Record]:
    """The lists a public project's page offers a signup form for (none for a private project)."""
    project = await queries.get_project(services.pool, project_id)
    if project is None or not project["is_public"]:
        return []
    return await queries.list_lists(services.pool, project_id)


async def public_list(services: Services, list_id: uuid.UUID) -> asyncpg.Record:
    return await _public_list(services.pool, list_id)


async def subscribers_page(
    services: Services, user_id: uuid.UUID, list_id: uuid.UUID, page: int, per_page: int = 100
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    await require_owned_list(services.pool, user_id, list_id)
    counts = await queries.count_subscribers(services.pool, list_id)
    rows = await queries.list_subscribers(services.pool, list_id, per_page, max(page - 1, 0) * per_page)
    return counts, rows


async def create_list(
    services: Services, user_id: uuid.UUID, project_id: uuid.UUID, name: str, list_type: str | None = None
) -> uuid.UUID:
    name = _check_name(name)
    if list_type is not None and list_type not in LIST_TYPES:
        raise ValidationFailed(
            "Unknown list type.", errors=[{"field": "list_type", "message": f"One of {', '.join(LIST_TYPES)}."}]
        )
    await require_owned_project(services.pool, user_id, project_id)

    async def body(tx: Tx) -> uuid.UUID:
        taken = {row["list_type"] for row in await queries.list_lists(tx.conn, project_id)}
        free = [t for t in LIST_TYPES if t not in taken]
        chosen = list_type if list_type is not None else (free[0] if free else None)
        if chosen is None:
            raise Conflict("A project has at most three lists (content, devlog and patches).", slug="list-limit")
        try:
            async with tx.conn.transaction():
                return await queries.insert_list(tx.conn, project_id, chosen, name)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"The project has a {chosen} list already.") from None

    return await run_tx(services.pool, "mailing.create_list", body)


async def rename_list(services: Services, user_id: uuid.UUID, list_id: uuid.UUID, name: str) -> None:
    name = _check_name(name)
    await require_owned_list(services.pool, user_id, list_id)
    await queries.update_list_name(services.pool, list_id, name)


async def delete_list(services: Services, user_id: uuid.UUID, list_id: uuid.UUID) -> None:
    await require_owned_list(services.pool, user_id, list_id)
    await queries.delete_list(services.pool, list_id)


async def add_subscriber(
    services: Services, user_id: uuid.UUID, list_id: uuid.UUID, raw_email: str, name: str = ""
) -> bool:
    """The creator adds an address (confirmed, consent theirs to vouch for); ``False`` if it is there already.
    A suppressed address is refused: nothing would ever reach it."""
    await require_owned_list(services.pool, user_id, list_id)
    email = normalize_email(raw_email)
    if email is None:
        raise ValidationFailed(
            "That is not an email address.", errors=[{"field": "email", "message": "Give one address, like a@b.org."}]
        )
    if await queries.is_suppressed(services.pool, email):
        raise ValidationFailed(
            "That address bounced or complained before; nothing is sent to it.",
            errors=[{"field": "email", "message": "This address is suppressed."}],
        )
    consent = {"added_by": str(user_id), "at": services.clock.now().isoformat()}
    clean_name = name.strip()[:MAX_NAME_CHARS] or None
    return await queries.insert_manual_subscriber(services.pool, list_id, email, clean_name, consent)


async def remove_subscriber(
    services: Services, user_id: uuid.UUID, list_id: uuid.UUID, subscriber_id: uuid.UUID
) -> None:
    await require_owned_list(services.pool, user_id, list_id)
    if not await queries.delete_subscriber(services.pool, list_id, subscriber_id):
        raise NotFound("There is no such subscriber.")


async def _public_list(pool: asyncpg.Pool, list_id: uuid.UUID) -> asyncpg.Record:
    found = await queries.get_list(pool, list_id)
    if found is None or not found["is_public"]:
        raise NotFound(NO_SUCH_LIST)
    return found


def _confirm_mail(services: Services, mailing_list: asyncpg.Record, email: str, token: str) -> Mail:
    url = confirm_url(services.config.base_url, token)
    text = (
        f'Someone (we hope you) asked to receive "{mailing_list["name"]}" from {mailing_list["project_title"]}.\n\n'
        f"To confirm, open this link and press the button:\n\n{url}\n\n"
        "If it was not you, ignore this mail: without confirmation nothing more is sent.\n"
    )
    return Mail(to=email, subject=f"Confirm your subscription to {mailing_list['project_title']}"[:200], text=text)


async def subscribe(services: Services, list_id: uuid.UUID, raw_email: str, *, client: str) -> None:
    """A public signup (form or API). Raises only for what the caller did (bad address, too many signups from
    ``client``, a list that does not exist): never anything that depends on the address's state."""
    email = normalize_email(raw_email)
    if email is None:
        raise ValidationFailed(
            "That is not an email address.", errors=[{"field": "email", "message": "Give one address, like a@b.org."}]
        )
    mailing_list = await _public_list(services.pool, list_id)
    await services.limiter.hit(SUBSCRIBE_PER_IP, client)
    try:
        await services.limiter.hit(CONFIRM_MAILS_PER_ADDRESS, f"{list_id}:{email.lower()}")
    except TooManyRequests:
        return  # past the per-address limit the answer stays the same; only no mail goes
    token, token_hash = new_confirm_token()
    consent = {"signup_at": services.clock.now().isoformat(), "via": "signup"}

    async def body(tx: Tx) -> None:
        if await queries.is_suppressed(tx.conn, email):
            return
        row = await queries.upsert_signup_subscriber(tx.conn, list_id, email, token_hash, consent)
        if row is None:
            return
        await queries.insert_signup(tx.conn, email, f"list:{list_id}")
        await sending.queue_mail(
            tx.conn,
            _confirm_mail(services, mailing_list, email, token),
            key=f"mailing.confirm:{token_hash.hex()[:40]}",
            stream="transactional",
        )

    await run_tx(services.pool, "mailing.subscribe", body)


async def subscribe_user(services: Services, list_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await _public_list(services.pool, list_id)
    consent = {"signup_at": services.clock.now().isoformat(), "via": "account", "user_id": str(user_id)}
    await queries.upsert_user_subscriber(services.pool, list_id, user_id, consent)


@dataclass(frozen=True)
class Pending:
    """What a confirm or unsubscribe page shows before its button is pressed."""

    list_name: str
    project_title: str
    email: str | None


async def find_confirmation(services: Services, token: str) -> Pending | None:
    if len(token) > 100:
        return None
    row = await queries.get_subscriber_by_confirm_token(services.pool, hash_token(token))
    if row is None:
        return None
    return Pending(row["list_name"], row["project_title"], row["email"])


async def confirm_subscription(services: Services, token: str) -> bool:
    """Confirm the subscriber holding ``token``; ``False`` if no one does (spent, replaced or made up)."""
    if len(token) > 100:
        return False
    return await queries.update_subscriber_confirmed(services.pool, hash_token(token)) is not None


async def find_unsubscription(services: Services, token: str) -> Pending | None:
    link = read_unsubscribe_token(services.keyring, token)
    if link is None:
        return None
    subscriber = await queries.get_subscriber(services.pool, link.subscriber_id)
    if subscriber is None:
        return None
    found = await queries.get_list(services.pool, subscriber["list_id"])
    if found is None:
        return None
    return Pending(found["name"], found["project_title"], subscriber["email"])


async def unsubscribe(services: Services, token: str) -> bool:
    """Unsubscribe whom the signed ``token`` names (idempotent); ``False`` if the token is not ours or its
    subscriber was removed."""
    link = read_unsubscribe_token(services.keyring, token)
    if link is None:
        return False
    subscriber = await queries.get_subscriber(services.pool, link.subscriber_id)
    if subscriber is None:
        return False
    await queries.update_subscriber_unsubscribed(services.pool, link.subscriber_id, link.broadcast_id)
    return True


def list_mail_headers(services: Services, subscriber_id: uuid.UUID, broadcast_id: uuid.UUID | None) -> dict[str, str]:
    """The RFC 8058 headers of a list mail to this subscriber."""
    return list_headers(services.config.base_url, unsubscribe_token(services.keyring, subscriber_id, broadcast_id))


def unsubscribe_link(services: Services, subscriber_id: uuid.UUID, broadcast_id: uuid.UUID | None) -> str:
    return unsubscribe_url(services.config.base_url, unsubscribe_token(services.keyring, subscriber_id, broadcast_id))
