"""The license API's limits, per key and per address: 429 with Retry-After, which apps treat as "offline,
stay in grace" (docs/licensing.md)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mnwd.config import Config
from tests.licensing.conftest import Client, Shop, api
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
