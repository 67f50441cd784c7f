"""Issuing license keys: on a purchase (the job commerce enqueues), by hand (comps) and in bulk; the item's
policy; revocation on refunds and disputes.

Interface::

    await run_issue_for_purchase(services, job)     # job kind licensing.issue_for_purchase {"transaction_id"}:
                                                    # the key, and the buyer's mail with it (same transaction)
    await get_item_policy(services, creator_id, item_id) -> (item, Policy)
    await set_item_policy(services, creator_id, item_id, enabled, Policy)
    await issue_comp(services, creator_id, item_id, email=, max_activations=, expires_at=, floating=)
        -> (key text, License)
    await issue_bulk(services, creator_id, item_id, count) -> [key text, ...]
    await issue_comps(services, creator_id, item_id, [(line, email), ...]) -> [CompIssued]   # a list of addresses
    await revoke_refunded(services)                   # periodic: keys of refunded purchases are revoked
    await run_revoke_for_transaction / run_restore_for_transaction  # jobs for disputes (lost / won)

Races handled: the purchase job runs at least once and possibly on two daemons at once; the partial unique
index on ``license_keys (transaction_id)`` lets exactly one INSERT win (the other's ``ON CONFLICT DO
NOTHING`` waits for it, then inserts nothing), so a purchase has one key whatever the retries. A key
copies its item's policy when it is issued: changing the policy later changes new keys only.

A comp issued to an e-mail address is mailed to it in the issuing transaction, keyed by the key
(`mnwd.licensing.comp_mail`): the key, and how to claim it when no account has verified the address yet.
``issue_comps`` (the dashboard's list of addresses, the API's ``emails``) gives each distinct address (case
aside) one comp, all or none, and an address that already has a comp of the item gets no new one (its
existing key is answered again, ``already``): a list posted again (a retry after a lost answer, a double
click) issues and mails nothing twice. Two such posts at once are ordered by a lock per item
(`queries.lock_item_comps`).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from mnwd.db.jobs import Job, PermanentJobError
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.licensing import keys, queries
from mnwd.licensing.comp_mail import check_comp_email, mail_comp
from mnwd.licensing.model import License, Policy
from mnwd.licensing.validations import forget_here
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.services import Services

__all__ = [
    "ISSUE_JOB",
    "MAX_BULK",
    "RESTORE_JOB",
    "REVOKE_JOB",
    "CompIssued",
    "get_item_policy",
    "issue_bulk",
    "issue_comp",
    "issue_comps",
    "revoke_refunded",
    "run_issue_for_purchase",
    "run_restore_for_transaction",
    "run_revoke_for_transaction",
    "set_item_policy",
    "usernames_of",
]

log = logging.getLogger(__name__)

ISSUE_JOB = "licensing.issue_for_purchase"
REVOKE_JOB = "licensing.revoke_for_transaction"
RESTORE_JOB = "licensing.restore_for_transaction"
MAX_BULK = 1000
NO_SUCH_ITEM = "You have no such item."


def _default_policy(item: asyncpg.Record) -> Policy:
    max_activations = item["license_max_activations"]
    return Policy(max_activations=max_activations if max_activations is not None else 3)


async def _policy(conn: asyncpg.Connection | asyncpg.Pool, item: asyncpg.Record) -> Policy:
    return await queries.get_policy(conn, item["id"]) or _default_policy(item)


async def _purchase_policy(conn: asyncpg.Connection, item: asyncpg.Record) -> Policy:
    """The policy of a purchased item's key. A bundle whose parts have license keys gives one key (one per
    purchase) entitled to each licensed part (``item:<part id>``), with the bundle's own policy if it has
    one, else its first licensed part's."""
    parts = [] if item["enable_license_keys"] else await queries.list_licensed_parts(conn, item["id"])
    if not parts:
        return await _policy(conn, item)
    policy = await queries.get_policy(conn, item["id"]) or await _policy(conn, parts[0])
    named = [f"item:{part['id']}" for part in parts]
    return dataclasses.replace(policy, entitlements=tuple(dict.fromkeys([*policy.entitlements, *named])))


def _terms(policy: Policy, start: datetime) -> dict[str, Any]:
    """What a key copies from its item's policy, with dates counted from ``start`` (the purchase)."""
    if policy.expiry == "fixed":
        expires_at = policy.expires_at
    elif policy.expiry == "duration" and policy.duration_days is not None:
        expires_at = start + timedelta(days=policy.duration_days)
    else:
        expires_at = None
    updates_until = start + timedelta(days=policy.updates_days) if policy.updates_days else None
    return {
        "max_activations": policy.max_activations,
        "expires_at": expires_at,
        "floating": policy.floating,
        "heartbeat_seconds": policy.heartbeat_seconds,
        "entitlements": list(policy.entitlements),
        "updates_until": updates_until,
    }


async def _insert(
    services: Services, conn: asyncpg.Connection, item_id: uuid.UUID, terms: dict[str, Any], **fields: Any
) -> tuple[str, uuid.UUID | None]:
    text = keys.generate_key()
    key_id = await queries.insert_key(
        conn,
        item_id=item_id,
        key_hash=keys.key_hash(text),
        key_code=keys.encrypt_key(services.keyring, text),
        key_last=keys.key_last(text),
        **terms,
        **fields,
    )
    return text, key_id


def _transaction_id(job: Job) -> uuid.UUID:
    try:
        return uuid.UUID(str(job.payload["transaction_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentJobError(f"payload has no transaction_id: {job.payload!r}") from exc


async def run_issue_for_purchase(services: Services, job: Job) -> None:
    """Issue the key of one completed purchase, once: a key already there (an earlier run, a concurrent one)
    means nothing to do. A bundle's key is entitled to each of its licensed parts."""
    transaction_id = _transaction_id(job)

    async def body(tx: Tx) -> None:
        purchase = await queries.get_transaction(tx.conn, transaction_id)
        if purchase is None:
            raise PermanentJobError(f"no transaction {transaction_id}")
        if purchase["status"] != "completed":
            log.info("no license key for a purchase that is not completed", extra={"transaction": str(transaction_id)})
            return
        item = None if purchase["item_id"] is None else await queries.get_item(tx.conn, purchase["item_id"])
        if item is None:
            raise PermanentJobError(f"transaction {transaction_id} has no item any more")
        start = purchase["completed_at"] or services.clock.now()
        terms = _terms(await _purchase_policy(tx.conn, item), start)
        text, key_id = await _insert(
            services, tx.conn, item["id"], terms, owner_id=purchase["buyer_id"], transaction_id=transaction_id
        )
        if key_id is not None and purchase["buyer_id"] is not None:
            await _mail_key(services, tx, purchase["buyer_id"], key_id, text, item["title"])

    await run_tx(services.pool, ISSUE_JOB, body, metrics=services.metrics)


async def _mail_key(
    services: Services, tx: Tx, buyer_id: uuid.UUID, key_id: uuid.UUID, text: str, item_title: str
) -> None:
    """The buyer's mail with their new key, queued in the issuing transaction under a key per license key (a
    job run again queues nothing more). The key is in the queued message only until it is sent."""
    email = await queries.get_user_email(tx.conn, buyer_id)
    if email is None:
        return
    base = services.config.base_url.rstrip("/")
    mail = Mail(
        to=email,
        subject=f"Your license key for {item_title}",
        text=(
            f"Thank you for buying {item_title}. Your license key:\n\n"
            f"    {text}\n\n"
            "Enter it in the app to activate it. Your keys and the devices using them, where you can free a "
            f"device: {base}/library/keys\n"
        ),
    )
    if await enqueue_mail(tx.conn, mail, key=f"license-key:{key_id}") is not None:
        tx.after_commit(services.jobs.wake)


async def run_revoke_for_transaction(services: Services, job: Job) -> None:
    """A refund or a lost dispute: the purchase's key is revoked (restored if the dispute is won)."""
    reason = str(job.payload.get("reason") or "refund")[:100]
    await queries.revoke_keys_of_transaction(services.pool, _transaction_id(job), reason)
    forget_here(services)


async def run_restore_for_transaction(services: Services, job: Job) -> None:
    await queries.restore_keys_of_transaction(services.pool, _transaction_id(job))
    forget_here(services)


async def revoke_refunded(services: Services) -> int:
    """Keys of purchases now ``refunded`` are revoked (whatever told commerce: a webhook, the dashboard)."""
    revoked = await queries.revoke_keys_of_refunded_transactions(services.pool)
    if revoked:
        forget_here(services)
    return revoked


async def _owned_item(
    conn: asyncpg.Connection | asyncpg.Pool, creator_id: uuid.UUID, item_id: uuid.UUID
) -> asyncpg.Record:
    item = await queries.get_item(conn, item_id)
    if item is None or item["creator_id"] != creator_id:
        raise NotFound(NO_SUCH_ITEM)
    return item


async def get_item_policy(
    services: Services, creator_id: uuid.UUID, item_id: uuid.UUID
) -> tuple[asyncpg.Record, Policy]:
    item = await _owned_item(services.pool, creator_id, item_id)
    return item, await _policy(services.pool, item)


async def list_creator_items(services: Services, creator_id: uuid.UUID) -> list[asyncpg.Record]:
    return await queries.list_creator_items(services.pool, creator_id)


async def set_item_policy(
    services: Services, creator_id: uuid.UUID, item_id: uuid.UUID, enabled: bool, policy: Policy
) -> None:
    async def body(tx: Tx) -> None:
        await _owned_item(tx.conn, creator_id, item_id)
        await queries.upsert_policy(tx.conn, item_id, policy)
        await queries.set_item_licensing(tx.conn, item_id, enabled, policy.max_activations)

    await run_tx(services.pool, "licensing.set_policy", body, metrics=services.metrics)


def _check_override(max_activations: int | None, expires_at: datetime | None, now: datetime) -> None:
    errors = []
    if max_activations is not None and not 1 <= max_activations <= 10000:
        errors.append({"field": "max_activations", "message": "Between 1 and 10000, or none for unlimited."})
    if expires_at is not None and expires_at.tzinfo is None:
        errors.append({"field": "expires_at", "message": "Give a time zone (such as Z)."})
    elif expires_at is not None and expires_at <= now:
        errors.append({"field": "expires_at", "message": "The date must be in the future."})
    if errors:
        raise ValidationFailed("The license cannot be issued like this.", errors)


UNSET: Any = object()


async def issue_comp(
    services: Services,
    creator_id: uuid.UUID,
    item_id: uuid.UUID,
    *,
    email: str | None = None,
    max_activations: int | None = UNSET,
    expires_at: datetime | None = UNSET,
    floating: bool | None = None,
) -> tuple[str, License]:
    """A key the creator gives away; owned by the account whose verified e-mail ``email`` is (it then shows
    in that account's library), else only ``issued_to_email`` remembers whom it was for until such an account
    claims it (`mnwd.licensing.library`)."""
    now = services.clock.now()
    _check_override(
        None if max_activations is UNSET else max_activations, None if expires_at is UNSET else expires_at, now
    )
    if email is not None and check_comp_email(email) is None:
        raise ValidationFailed(
            "The license cannot be issued like this.", [{"field": "email", "message": "Not an e-mail address."}]
        )
    if email is not None:
        email = email.strip()

    async def body(tx: Tx) -> tuple[str, License]:
        item = await _owned_item(tx.conn, creator_id, item_id)
        terms = _terms(await _policy(tx.conn, item), now)
        if max_activations is not UNSET:
            terms["max_activations"] = max_activations
        if expires_at is not UNSET:
            terms["expires_at"] = expires_at
        if floating is not None:
            terms["floating"] = floating
        owner = None if email is None else await queries.get_verified_user_by_email(tx.conn, email)
        text, key_id = await _insert(
            services, tx.conn, item_id, terms, owner_id=owner, source="comp", issued_to_email=email
        )
        assert key_id is not None
        if email is not None:
            await mail_comp(services, tx, key_id=key_id, key=text, item=item, email=email, owned=owner is not None)
        issued = await queries.get_key(tx.conn, key_id)
        assert issued is not None
        return text, issued

    return await run_tx(services.pool, "licensing.issue_comp", body, metrics=services.metrics)


@dataclasses.dataclass(frozen=True)
class CompIssued:
    """One address of a list: its key (``None`` if the server's secret key changed since an earlier comp), and
    whether it is ``issued`` now or ``already`` had a comp of the item (not mailed again)."""

    email: str
    key: str | None
    status: str
    owner_id: uuid.UUID | None = None


MAX_LISTED_ERRORS = 20


async def usernames_of(services: Services, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await queries.list_usernames(services.pool, list(user_ids))


async def issue_comps(
    services: Services, creator_id: uuid.UUID, item_id: uuid.UUID, addresses: list[tuple[int, str]]
) -> list[CompIssued]:
    """One comp with the item's policy for each distinct address of ``addresses`` (``(line, email)``, the line
    named in errors), each mailed; all or none. See the module's docstring for retries."""
    errors = [
        {"field": "emails", "message": f"Line {line}: {email[:60]!r} is not an e-mail address."}
        for line, email in addresses
        if check_comp_email(email) is None
    ]
    first_spelling: dict[str, str] = {}
    for _, email in addresses:
        first_spelling.setdefault(email.strip().lower(), email.strip())
    distinct = list(first_spelling.values())
    if not errors and not distinct:
        errors.append({"field": "emails", "message": "Give at least one e-mail address."})
    if len(distinct) > MAX_BULK:
        errors.append({"field": "emails", "message": f"At most {MAX_BULK} addresses at once."})
    if errors:
        raise ValidationFailed("The licenses cannot be issued like this.", errors[:MAX_LISTED_ERRORS])
    now = services.clock.now()

    async def body(tx: Tx) -> list[CompIssued]:
        item = await _owned_item(tx.conn, creator_id, item_id)
        await queries.lock_item_comps(tx.conn, item_id)
        terms = _terms(await _policy(tx.conn, item), now)
        existing = await queries.list_comps_to(tx.conn, item_id, distinct)
        owners = await queries.list_verified_users_by_email(tx.conn, distinct)
        answer = []
        for email in distinct:
            owner = owners.get(email.lower())
            earlier = existing.get(email.lower())
            if earlier is not None:
                text = keys.decrypt_key(services.keyring, earlier["key_code"])
                answer.append(CompIssued(email, text, "already", owner))
                continue
            text, key_id = await _insert(
                services, tx.conn, item_id, terms, owner_id=owner, source="comp", issued_to_email=email
            )
            assert key_id is not None
            await mail_comp(services, tx, key_id=key_id, key=text, item=item, email=email, owned=owner is not None)
            answer.append(CompIssued(email, text, "issued", owner))
        return answer

    return await run_tx(services.pool, "licensing.issue_comps", body, metrics=services.metrics)


async def issue_bulk(services: Services, creator_id: uuid.UUID, item_id: uuid.UUID, count: int) -> list[str]:
    """``count`` keys with the item's policy and no owner, all or none (for a CSV the creator hands out)."""
    if not 1 <= count <= MAX_BULK:
        raise ValidationFailed(
            "The keys cannot be issued like this.", [{"field": "count", "message": f"Between 1 and {MAX_BULK}."}]
        )
    now = services.clock.now()

    async def body(tx: Tx) -> list[str]:
        item = await _owned_item(tx.conn, creator_id, item_id)
        terms = _terms(await _policy(tx.conn, item), now)
        return [(await _insert(services, tx.conn, item_id, terms, source="bulk"))[0] for _ in range(count)]

    return await run_tx(services.pool, "licensing.issue_bulk", body, metrics=services.metrics)
