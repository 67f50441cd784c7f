"""The buyer's mail with the key of a purchase, through the outbound queue to a real SMTP server (aiosmtpd on
loopback): sent once per key however often the issuing job runs, with the key, the item and the keys page."""

from __future__ import annotations

import uuid

from mnwd.db.jobs import enqueue
from mnwd.services import Services
from tests.licensing.conftest import ISSUE_JOB, Shop, make_item
from tests.outbound.conftest import SmtpSink, config, outbound_env, smtp
from tests.support.outbound import run_jobs

# The SMTP sink and a config that sends to it: the mail tests' fixtures (tests/outbound/conftest.py).
__all__ = ["config", "outbound_env", "smtp"]


async def test_the_buyer_gets_their_key_by_mail_once(
    shop: Shop, buyer_id: uuid.UUID, services: Services, smtp: SmtpSink
) -> None:
    transaction_id = await shop.purchase(buyer_id)
    await run_jobs(services)
    key = await shop.key_of(transaction_id)
    [mail] = smtp.sink.messages()
    assert mail["To"] == "bob@example.org"
    assert mail["Subject"] == "Your license key for App"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert key in body
    assert f"{services.config.base_url.rstrip('/')}/library/keys" in body
    [envelope] = smtp.sink.envelopes
    assert envelope.rcpt_tos == ["bob@example.org"]

    # The job once more (a retry after a crash, a second daemon): no second key, no second mail.
    async with services.pool.acquire() as conn:
        await enqueue(conn, ISSUE_JOB, {"transaction_id": str(transaction_id)}, key=f"again:{transaction_id}")
    await run_jobs(services)
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 1
    assert len(smtp.sink.messages()) == 1
    # What was queued no longer holds the key once sent.
    kept = await services.pool.fetch("SELECT * FROM outbound_mails")
    assert len(kept) == 1
    assert key not in str(dict(kept[0]))


async def test_each_purchase_mails_its_own_key_and_a_refunded_one_mails_nothing(
    shop: Shop, buyer_id: uuid.UUID, services: Services, smtp: SmtpSink
) -> None:
    refunded = await shop.purchase(buyer_id)
    await services.pool.execute("UPDATE transactions SET status = 'refunded' WHERE id = $1", refunded)
    first = await shop.purchase(buyer_id)
    other_item = await make_item(services.pool, shop.creator_id, "other")
    await services.pool.execute("UPDATE items SET title = 'Other <App>' WHERE id = $1", other_item)
    second = await shop.purchase(buyer_id, item_id=other_item)
    await run_jobs(services)
    mails = {m["Subject"]: m.get_body().get_content() for m in smtp.sink.messages()}  # type: ignore[union-attr]
    assert sorted(mails) == ["Your license key for App", "Your license key for Other <App>"]
    assert await shop.key_of(first) in mails["Your license key for App"]
    assert await shop.key_of(second) in mails["Your license key for Other <App>"]
