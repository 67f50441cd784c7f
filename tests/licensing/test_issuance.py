"""Keys issued by the purchase job commerce enqueues: one per purchase whatever the retries, with the item's
policy copied; comps and bulk keys; refunds revoke."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

from mnwd.db.jobs import Job
from mnwd.licensing import keys
from mnwd.services import Services
from tests.licensing.conftest import ISSUE_JOB, Shop

KEY_FORMAT = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}){3}$")


def test_keys_are_typable_and_normalised() -> None:
    key = keys.generate_key()
    assert KEY_FORMAT.match(key)
    assert keys.normalize_key(key.lower().replace("-", " ")) == key
    assert keys.normalize_key(key.replace("-", "")) == key
    for bad in ("", "0" * 20, key + "A", "O" * 20, "x" * 1000, "../../etc/passwd", key[:-1] + "I"):
        assert keys.normalize_key(bad) is None, bad
    assert len({keys.generate_key() for _ in range(1000)}) == 1000


async def test_a_purchase_gets_one_key_stored_by_hash(shop: Shop, buyer_id: uuid.UUID, services: Services) -> None:
    transaction_id = await shop.purchase(buyer_id)
    await shop.run_jobs()
    key = await shop.key_of(transaction_id)
    assert KEY_FORMAT.match(key)
    row = await services.pool.fetchrow("SELECT * FROM license_keys WHERE transaction_id = $1", transaction_id)
    assert row["owner_id"] == buyer_id
    assert row["item_id"] == shop.item_id
    assert row["key_hash"] == keys.key_hash(key)
    assert key not in row["key_code"], "the key is never stored in clear"
    assert row["key_last"] == key[-5:]
    assert row["max_activations"] == 3
    assert row["status"] == "active"
    assert row["source"] == "purchase"


async def test_retries_and_concurrent_runs_issue_exactly_one_key(
    shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    transaction_id = await shop.purchase(buyer_id)
    job = Job(uuid.uuid4(), ISSUE_JOB, {"transaction_id": str(transaction_id)}, 1, 10, None, services.clock.now())
    from mnwd.licensing.issuance import run_issue_for_purchase

    await asyncio.gather(*(run_issue_for_purchase(services, job) for _ in range(8)))
    await shop.run_jobs()
    await run_issue_for_purchase(services, job)
    count = await services.pool.fetchval("SELECT count(*) FROM license_keys WHERE transaction_id = $1", transaction_id)
    assert count == 1


async def test_the_key_copies_the_policy_of_its_item(shop: Shop, buyer_id: uuid.UUID, services: Services) -> None:
    await shop.set_policy(
        max_activations=5,
        expiry="duration",
        duration_days=30,
        floating=True,
        heartbeat_seconds=120,
        entitlements=["pro"],
        updates_days=365,
    )
    transaction_id = await shop.purchase(buyer_id)
    await shop.run_jobs()
    row = await services.pool.fetchrow("SELECT * FROM license_keys WHERE transaction_id = $1", transaction_id)
    completed = await services.pool.fetchval("SELECT completed_at FROM transactions WHERE id = $1", transaction_id)
    assert row["max_activations"] == 5
    assert row["floating"]
    assert row["heartbeat_seconds"] == 120
    assert row["expires_at"] == completed + timedelta(days=30)
    assert row["updates_until"] == completed + timedelta(days=365)
    assert row["entitlements"] == ["pro"]


async def test_a_bad_payload_or_a_missing_purchase_ends_the_job_dead(shop: Shop, services: Services) -> None:
    async with services.pool.acquire() as conn:
        from mnwd.db.jobs import enqueue

        await enqueue(conn, ISSUE_JOB, {"transaction_id": "not-a-uuid"})
        await enqueue(conn, ISSUE_JOB, {"transaction_id": str(uuid.uuid4())})
    await shop.run_jobs()
    states = await services.pool.fetch("SELECT state FROM jobs WHERE kind = $1", ISSUE_JOB)
    assert [r["state"] for r in states] == ["dead", "dead"]
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 0


async def test_a_refund_revokes_and_a_won_dispute_restores(shop: Shop, buyer_id: uuid.UUID, services: Services) -> None:
    from mnwd.db.jobs import enqueue
    from mnwd.licensing.issuance import revoke_refunded

    transaction_id = await shop.purchase(buyer_id)
    await shop.run_jobs()
    await services.pool.execute(
        "UPDATE transactions SET status = 'refunded', refunded_at = now() WHERE id = $1", transaction_id
    )
    assert await revoke_refunded(services) == 1
    assert await revoke_refunded(services) == 0
    row = await services.pool.fetchrow(
        "SELECT status, revoked_reason FROM license_keys WHERE transaction_id = $1", transaction_id
    )
    assert (row["status"], row["revoked_reason"]) == ("revoked", "refund")

    other = await shop.purchase(await services.pool.fetchval("SELECT id FROM users WHERE username = 'maker'"))
    await shop.run_jobs()
    await enqueue(
        services.pool, "licensing.revoke_for_transaction", {"transaction_id": str(other), "reason": "dispute"}
    )
    await shop.run_jobs()
    assert await services.pool.fetchval("SELECT status FROM license_keys WHERE transaction_id = $1", other) == "revoked"
    await enqueue(services.pool, "licensing.restore_for_transaction", {"transaction_id": str(other)})
    await shop.run_jobs()
    assert await services.pool.fetchval("SELECT status FROM license_keys WHERE transaction_id = $1", other) == "active"


async def test_a_purchase_refunded_before_the_job_ran_gets_no_key(
    shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    transaction_id = await shop.purchase(buyer_id)
    await services.pool.execute("UPDATE transactions SET status = 'refunded' WHERE id = $1", transaction_id)
    await shop.run_jobs()
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 0
    assert await services.pool.fetchval("SELECT state FROM jobs WHERE kind = $1", ISSUE_JOB) == "done"


async def test_a_key_reinstated_after_its_refund_stays_reinstated(
    shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    from mnwd.licensing.issuance import revoke_refunded
    from mnwd.licensing.manage import change_key

    transaction_id = await shop.purchase(buyer_id)
    await shop.run_jobs()
    await services.pool.execute(
        "UPDATE transactions SET status = 'refunded', refunded_at = now() WHERE id = $1", transaction_id
    )
    await services.pool.execute("UPDATE license_keys SET activation_count = 0")  # touched after the refund
    assert await revoke_refunded(services) == 1
    key_id = await services.pool.fetchval("SELECT id FROM license_keys")
    await change_key(services, shop.creator_id, key_id, "reinstate")
    assert await revoke_refunded(services) == 0
    assert await services.pool.fetchval("SELECT status FROM license_keys") == "active"
