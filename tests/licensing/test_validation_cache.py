"""Validations answered from the daemon's memory (mnwd/licensing/validations.py): kept between calls, forgotten
at once after a change made through this daemon, and on the NOTIFY that a trigger sends for a change made any
other way (SQL by hand here; another daemon in production)."""

from __future__ import annotations

import uuid

from mnwd.licensing.validations import CHANNEL, VALIDATIONS
from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api, eventually, validate


async def test_a_validation_is_kept_until_the_key_changes(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id, max_activations=1)
    assert (await validate(client, key))["code"] == "VALID"
    assert len(services[VALIDATIONS]) == 1
    # A change that tells nobody (triggers off for this session): the kept answer stands, so it was kept.
    async with services.pool.acquire() as conn:
        await conn.execute("SET session_replication_role = replica")
        try:
            await conn.execute("UPDATE license_keys SET status = 'suspended'")
        finally:
            await conn.execute("RESET session_replication_role")
    assert (await validate(client, key))["code"] == "VALID"
    # The same change as anyone makes it: the trigger's NOTIFY reaches the cache.
    await services.pool.execute("UPDATE license_keys SET status = 'revoked'")
    await eventually(client, key, "REVOKED")
    await services.pool.execute("UPDATE license_keys SET status = 'active'")
    await eventually(client, key, "VALID")

    # Through this daemon: seen by the very next validation, no waiting.
    for _ in range(3):
        assert (await validate(client, key, fingerprint="pc"))["code"] == "FINGERPRINT_NOT_ACTIVATED"
    status, _ = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "pc"})
    assert status == 201
    doc = await validate(client, key, fingerprint="pc")
    assert (doc["code"], doc["license"]["activation_count"]) == ("VALID", 1)
    assert (await validate(client, key, fingerprint="laptop"))["code"] == "TOO_MANY_ACTIVATIONS"
    status, _ = await api(client, "/api/v1/licenses/deactivate", {"key": key, "fingerprint": "pc"})
    assert status == 200
    assert (await validate(client, key, fingerprint="pc"))["code"] == "FINGERPRINT_NOT_ACTIVATED"
    assert (await validate(client, key, fingerprint="laptop"))["code"] == "FINGERPRINT_NOT_ACTIVATED"

    # A seat deleted with its item (a cascade) is a change too.
    status, _ = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "pc"})
    assert (await validate(client, key, fingerprint="pc"))["code"] == "VALID"
    await services.pool.execute("DELETE FROM items")
    await eventually(client, key, "NOT_FOUND", fingerprint="pc")


async def test_nothing_is_kept_while_the_listen_connection_is_down(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id)
    cache = services[VALIDATIONS]
    cache.listening(False)
    try:
        assert (await validate(client, key))["code"] == "VALID"
        assert len(cache) == 0
    finally:
        cache.listening(True)
    assert (await validate(client, key))["code"] == "VALID"
    assert len(cache) == 1
    cache.on_notify("not a key id")
    assert len(cache) == 0
    services.listen.deliver_here(CHANNEL, str(uuid.uuid4()))


async def test_the_last_sighting_is_still_recorded_once_a_minute(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id)
    status, _ = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "pc"})
    assert status == 201
    activated = await services.pool.fetchval("SELECT last_seen_at FROM license_activations")
    first = await validate(client, key, fingerprint="pc")  # now kept
    clock.advance(30)
    assert (await validate(client, key, fingerprint="pc")) == first
    assert await services.pool.fetchval("SELECT last_seen_at FROM license_activations") == activated
    # A minute on, the kept seat is a minute old: it is read again, and the sighting recorded.
    clock.advance(40)
    later = await validate(client, key, fingerprint="pc")
    seen = await services.pool.fetchval("SELECT last_seen_at FROM license_activations")
    assert seen == clock.now()
    assert later["activation"]["last_seen_at"] == seen.isoformat()
    assert (await validate(client, key, fingerprint="pc"))["activation"]["last_seen_at"] == seen.isoformat()
