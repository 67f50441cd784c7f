"""The license API's limits, per key and per address: 429 with Retry-After, which apps treat as "offline,
stay in grace" (docs/licensing.md)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mnwd.config import Config
from mnwd.errors import TooManyRequests
from mnwd.licensing.local_limits import LocalLimiter
from mnwd.ratelimit import Limit
from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", "MNWD_LICENSE_RATE_PER_KEY": "5", "MNWD_LICENSE_RATE_PER_ADDRESS": "12"},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


async def test_one_key_is_limited_then_the_address(
    client: Client,
    shop: Shop,
    buyer_id: uuid.UUID,
) -> None:
    key = await shop.buy_key(buyer_id)
    for _ in range(5):
        status, doc = await api(client, "/api/v1/licenses/validate", {"key": key})
        assert status == 200, doc
    async with client.post("/api/v1/licenses/validate", json={"key": key.lower()}) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        doc = await response.json()
        assert doc["type"].endswith("/rate-limited")
        assert "grace" in doc["detail"]
    # Other keys from the same address pass until the address's own limit.
    statuses = [
        (await api(client, "/api/v1/licenses/activate", {"key": f"other-{n}", "fingerprint": "x"}))[0] for n in range(7)
    ]
    assert statuses[:6] == [404] * 6
    assert statuses[6] == 429


async def test_the_sdk_reads_429_as_stay_in_grace(client: Client, shop: Shop, buyer_id: uuid.UUID) -> None:
    from mnw_synckit.errors import OfflineError
    from mnw_synckit.licenses import LicenseClient

    key = await shop.buy_key(buyer_id)
    async with LicenseClient(str(client.make_url("/"))) as licenses:
        for _ in range(5):
            assert (await licenses.validate(key))["valid"]
        with pytest.raises(OfflineError) as offline:
            await licenses.validate(key)
    assert offline.value.retry_after is not None  # type: ignore[attr-defined]
    assert offline.value.retry_after >= 1  # type: ignore[attr-defined]


async def test_validate_is_counted_in_memory_and_activate_in_postgresql_too(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    """Validation writes nothing to the database (its limits are this daemon's, docs/licensing.md); activation
    is counted in PostgreSQL as well, so that its limits hold across daemons."""
    key = await shop.buy_key(buyer_id)
    before = await services.pool.fetchval("SELECT coalesce(sum(hits), 0) FROM rate_limits")
    for _ in range(3):
        status, doc = await api(client, "/api/v1/licenses/validate", {"key": key})
        assert (status, doc["code"]) == (200, "VALID")
    assert await services.pool.fetchval("SELECT coalesce(sum(hits), 0) FROM rate_limits") == before
    status, _ = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "pc"})
    assert status == 201
    assert await services.pool.fetchval("SELECT coalesce(sum(hits), 0) FROM rate_limits") == before + 2
    # The key has had 4 calls here: one more passes, the next is refused whichever call it is.
    status, _ = await api(client, "/api/v1/licenses/validate", {"key": key, "fingerprint": "pc"})
    assert status == 200
    async with client.post("/api/v1/licenses/activate", json={"key": key, "fingerprint": "pc"}) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1


async def test_the_window_slides_with_the_clock(
    client: Client, shop: Shop, buyer_id: uuid.UUID, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id)
    for _ in range(5):
        assert (await api(client, "/api/v1/licenses/validate", {"key": key}))[0] == 200
    async with client.post("/api/v1/licenses/validate", json={"key": key}) as response:
        assert response.status == 429
        wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 120
    clock.advance(wait)
    assert (await api(client, "/api/v1/licenses/validate", {"key": key}))[0] == 200
    clock.advance(121)
    for _ in range(5):
        assert (await api(client, "/api/v1/licenses/validate", {"key": key}))[0] == 200


def test_the_memory_limiter_is_bounded_and_forgets_the_least_recent() -> None:
    limit = Limit("t", 2, 60)
    limiter = LocalLimiter(max_buckets=3)
    for bucket in ("a", "b", "c"):
        limiter.hit_all([(limit, bucket)], 1000.0)
    limiter.hit_all([(limit, "a")], 1001.0)  # "a" is now the most recent
    limiter.hit_all([(limit, "d")], 1002.0)  # "b" goes
    assert len(limiter) == 3
    with pytest.raises(TooManyRequests):
        limiter.hit_all([(limit, "a")], 1003.0)
    limiter.hit_all([(limit, "b")], 1003.0)  # forgotten: counts from zero
    limiter.hit_all([(limit, "b")], 1003.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.hit_all([(limit, "b")], 1003.0)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60


def test_the_memory_limiter_counts_every_limit_and_names_the_first_passed() -> None:
    per_address = Limit("address", 3, 60, "address")
    per_key = Limit("key", 1, 60, "key")
    limiter = LocalLimiter()
    limiter.hit_all([(per_address, "ip"), (per_key, b"k1")], 0.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.hit_all([(per_address, "ip"), (per_key, b"k1")], 1.0)
    assert refused.value.detail == "key"
    limiter.hit_all([(per_address, "ip"), (per_key, b"k2")], 2.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.hit_all([(per_address, "ip"), (per_key, b"k3")], 3.0)
    assert refused.value.detail == "address", "the refused hit above counted against the address too"
    # Sliding: 61 s later the previous window still weighs (4 * 59/60 + 1 > 3); two windows later it does not.
    with pytest.raises(TooManyRequests):
        limiter.hit_all([(per_address, "ip")], 61.0)
    limiter.hit_all([(per_address, "ip")], 181.0)
