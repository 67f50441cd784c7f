"""The license API over HTTP, as an app calls it: activation limits (also under concurrent calls), the same
device counted once, deactivation, floating seats, every validation code."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from mnwd.licensing.issuance import revoke_refunded
from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api, eventually


async def activate(client: Client, key: str, fingerprint: str, **more: str) -> tuple[int, Any]:
    return await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": fingerprint, **more})


async def validate(client: Client, key: str, **more: object) -> Any:
    status, doc = await api(client, "/api/v1/licenses/validate", {"key": key, **more})
    assert status == 200, doc
    return doc


async def test_activate_up_to_the_limit_then_too_many(client: Client, shop: Shop, buyer_id: uuid.UUID) -> None:
    key = await shop.buy_key(buyer_id, max_activations=2)
    status, first = await activate(client, key, "laptop", name="Bob's laptop", platform="linux", app_version="1.0")
    assert status == 201, first
    assert first["license"]["activation_count"] == 1
    assert first["license"]["max_activations"] == 2
    assert first["license"]["status"] == "active"
    assert first["activation"]["name"] == "Bob's laptop"
    assert first["license_file"].startswith("-----BEGIN LICENSE FILE-----")
    assert (await activate(client, key, "desktop"))[0] == 201
    status, refused = await activate(client, key, "third")
    assert status == 403
    assert refused["code"] == "TOO_MANY_ACTIVATIONS"
    assert refused["type"].endswith("/license-refused")
    doc = await validate(client, key, fingerprint="third")
    assert (doc["valid"], doc["code"]) == (False, "TOO_MANY_ACTIVATIONS")
    doc = await validate(client, key, fingerprint="laptop")
    assert (doc["valid"], doc["code"], doc["license"]["activation_count"]) == (True, "VALID", 2)


async def test_twenty_concurrent_activations_against_three_seats_make_three(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id, max_activations=3)
    results = await asyncio.gather(*(activate(client, key, f"device-{n}") for n in range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [403] * 17
    rows = await services.pool.fetchval("SELECT count(*) FROM license_activations")
    assert rows == 3
    assert await services.pool.fetchval("SELECT activation_count FROM license_keys") == 3


async def test_the_same_fingerprint_counts_once_also_concurrently(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id, max_activations=3)
    results = await asyncio.gather(*(activate(client, key, "laptop") for _ in range(10)))
    assert sorted(status for status, _ in results) == [200] * 9 + [201]
    assert len({doc["activation_id"] for _, doc in results}) == 1
    status, again = await activate(client, key.lower().replace("-", " "), "laptop")
    assert status == 200
    assert again["license"]["activation_count"] == 1
    assert await services.pool.fetchval("SELECT count(*) FROM license_activations") == 1


async def test_deactivate_frees_a_seat(client: Client, shop: Shop, buyer_id: uuid.UUID) -> None:
    key = await shop.buy_key(buyer_id, max_activations=1)
    _, first = await activate(client, key, "old")
    assert (await activate(client, key, "new"))[0] == 403
    status, doc = await api(
        client, "/api/v1/licenses/deactivate", {"key": key, "activation_id": first["activation_id"]}
    )
    assert status == 200, doc
    assert doc["license"]["activation_count"] == 0
    assert (await activate(client, key, "new"))[0] == 201
    status, doc = await api(client, "/api/v1/licenses/deactivate", {"key": key, "fingerprint": "new"})
    assert status == 200
    status, doc = await api(client, "/api/v1/licenses/deactivate", {"key": key, "fingerprint": "new"})
    assert (status, doc["code"]) == (404, "ACTIVATION_NOT_FOUND")
    status, doc = await api(client, "/api/v1/licenses/deactivate", {"key": key})
    assert status == 422
    status, doc = await api(
        client, "/api/v1/licenses/deactivate", {"key": key, "fingerprint": "x", "activation_id": str(uuid.uuid4())}
    )
    assert status == 422


async def test_a_floating_seat_lapses_without_heartbeats(
    client: Client, shop: Shop, buyer_id: uuid.UUID, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id, max_activations=1, floating=True, heartbeat_seconds=120)
    status, seat = await activate(client, key, "office-1")
    assert status == 201
    assert seat["activation"]["lease_expires_at"] is not None
    clock.advance(100)
    status, beat = await api(client, "/api/v1/licenses/heartbeat", {"key": key, "activation_id": seat["activation_id"]})
    assert status == 200, beat
    clock.advance(100)
    assert (await validate(client, key, fingerprint="office-1"))["code"] == "VALID"
    assert (await activate(client, key, "office-2"))[0] == 403
    clock.advance(121)
    assert (await validate(client, key, fingerprint="office-1"))["code"] == "HEARTBEAT_DEAD"
    status, doc = await activate(client, key, "office-2")
    assert status == 201, doc
    status, doc = await api(client, "/api/v1/licenses/heartbeat", {"key": key, "activation_id": seat["activation_id"]})
    assert (status, doc["code"]) == (404, "ACTIVATION_NOT_FOUND")


async def test_a_heartbeat_after_the_lease_lapsed_frees_the_seat(
    client: Client, shop: Shop, buyer_id: uuid.UUID, clock: MovableClock, services: Services
) -> None:
    key = await shop.buy_key(buyer_id, floating=True, heartbeat_seconds=60)
    _, seat = await activate(client, key, "office-1")
    clock.advance(61)
    status, doc = await api(client, "/api/v1/licenses/heartbeat", {"key": key, "activation_id": seat["activation_id"]})
    assert (status, doc["code"]) == (403, "HEARTBEAT_DEAD")
    assert await services.pool.fetchval("SELECT activation_count FROM license_keys") == 0


async def test_a_refunded_purchase_validates_revoked(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    transaction_id = await shop.purchase(buyer_id)
    await shop.run_jobs()
    key = await shop.key_of(transaction_id)
    assert (await activate(client, key, "laptop"))[0] == 201
    await services.pool.execute("UPDATE transactions SET status = 'refunded' WHERE id = $1", transaction_id)
    await revoke_refunded(services)
    doc = await validate(client, key, fingerprint="laptop")
    assert (doc["valid"], doc["code"], doc["license"]["status"]) == (False, "REVOKED", "revoked")
    status, doc = await activate(client, key, "desktop")
    assert (status, doc["code"]) == (403, "REVOKED")


async def test_suspended_expired_and_unknown_keys(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id, expiry="duration", duration_days=10)
    assert (await validate(client, key))["code"] == "VALID"
    await services.pool.execute("UPDATE license_keys SET status = 'suspended'")
    await eventually(client, key, "SUSPENDED")
    assert (await activate(client, key, "x"))[1]["code"] == "SUSPENDED"
    await services.pool.execute("UPDATE license_keys SET status = 'active'")
    clock.advance(11 * 86400)
    doc = await validate(client, key)
    assert (doc["valid"], doc["code"], doc["license"]["status"]) == (False, "EXPIRED", "expired")
    for junk in ("AAAAA-AAAAA-AAAAA-AAAAA", "nonsense", "<script>", "../../etc/passwd"):
        doc = await validate(client, junk)
        assert (doc["valid"], doc["code"], doc["license"]) == (False, "NOT_FOUND", None)
        status, doc = await activate(client, junk, "x")
        assert (status, doc["code"]) == (404, "NOT_FOUND")


async def test_entitlements(client: Client, shop: Shop, buyer_id: uuid.UUID) -> None:
    key = await shop.buy_key(buyer_id, entitlements=["pro", "cloud"], updates_days=365)
    doc = await validate(client, key)
    granted = doc["license"]["entitlements"]
    assert f"item:{shop.item_id}" in granted
    assert "pro" in granted
    assert any(e.startswith("updates-until:") for e in granted)
    assert (await validate(client, key, entitlements=["pro", f"item:{shop.item_id}"]))["code"] == "VALID"
    doc = await validate(client, key, entitlements=["pro", "enterprise"])
    assert (doc["valid"], doc["code"], doc["missing_entitlements"]) == (False, "ENTITLEMENTS_MISSING", ["enterprise"])
    assert (await validate(client, key, fingerprint="never-activated"))["code"] == "FINGERPRINT_NOT_ACTIVATED"


async def test_bad_bodies_are_problems_and_write_nothing(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id)
    for body in (
        {},
        {"key": key},
        {"key": key, "fingerprint": ""},
        {"key": key, "fingerprint": "   "},
        {"key": key, "fingerprint": "x" * 201},
        {"key": "k" * 101, "fingerprint": "x"},
        {"key": key, "fingerprint": "x", "name": "n" * 201},
        [1, 2],
    ):
        status, doc = await api(client, "/api/v1/licenses/activate", body)
        assert status in (400, 422), (body, doc)
    async with client.post(
        "/api/v1/licenses/activate", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with client.post(
        "/api/v1/licenses/validate", data=b"x" * 20000, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413
    status, _ = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "a\u0000b"})
    assert status == 400
    assert await services.pool.fetchval("SELECT count(*) FROM license_activations") == 0


async def test_the_sweep_frees_lapsed_floating_seats(
    client: Client, shop: Shop, buyer_id: uuid.UUID, clock: MovableClock, services: Services
) -> None:
    from mnwd.licensing.activations import sweep_dead_leases

    key = await shop.buy_key(buyer_id, max_activations=2, floating=True, heartbeat_seconds=60)
    await activate(client, key, "a")
    clock.advance(30)
    await activate(client, key, "b")
    clock.advance(31)
    assert await sweep_dead_leases(services) == 1
    assert await sweep_dead_leases(services) == 0
    assert await services.pool.fetchval("SELECT activation_count FROM license_keys") == 1
    assert await services.pool.fetchval("SELECT machine_id FROM license_activations") == "b"
