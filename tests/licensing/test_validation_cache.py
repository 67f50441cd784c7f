"""Validations answered from the daemon's memory (mnwd/licensing/validations.py): kept between calls, forgotten
at once after a change made through this daemon, and on the NOTIFY that a trigger sends for a change made any
other way (SQL by hand here; another daemon in production)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mnwd.licensing.model import License
from mnwd.licensing.validations import CHANNEL, VALIDATIONS, ValidationCache
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


def test_the_cache_is_bounded_and_a_read_from_before_a_forget_is_not_kept() -> None:
    cache = ValidationCache(max_entries=2, max_age=10)
    cache.listening(True)
    found = {n: (_license(), None) for n in range(3)}
    for n in range(3):
        cache.put((bytes([n]), None), found[n], cache.generation, 0.0)
    assert len(cache) <= 2
    assert cache.get((bytes([2]), None), 1.0) == found[2]
    assert cache.get((bytes([2]), None), 10.0) is None, "aged out"
    read_at = cache.generation
    cache.forget(uuid.uuid4())
    cache.put((b"late", None), found[0], read_at, 0.0)
    assert cache.get((b"late", None), 1.0) is None
    cache.put((b"k", "fp"), found[1], cache.generation, 0.0)
    cache.forget(found[1][0].id)
    assert cache.get((b"k", "fp"), 1.0) is None


def _license() -> License:
    now = datetime.now(UTC)
    return License(
        id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        item_title="App",
        creator_id=uuid.uuid4(),
        owner_id=None,
        owner_username=None,
        transaction_id=None,
        key_code="",
        key_last=None,
        status="active",
        source="comp",
        issued_to_email=None,
        max_activations=None,
        activation_count=0,
        expires_at=None,
        floating=False,
        heartbeat_seconds=600,
        entitlements=[],
        updates_until=None,
        last_swap_at=None,
        revoked_reason=None,
        created_at=now,
    )
