"""The SDK's `mnw_synckit.licenses` against the real server: three lines to activate, validate, free a seat,
verify the offline file; refusals and "stay in grace" told apart."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from mnw_synckit.errors import OfflineError
from mnw_synckit.licenses import (
    LicenseClient,
    LicenseFileInvalid,
    LicenseRefused,
    machine_fingerprint,
    verify_license_file,
)

from tests.licensing.conftest import Client, Shop
from tests.support.daemon import free_port


async def test_activate_validate_verify_deactivate(client: Client, shop: Shop, buyer_id: uuid.UUID) -> None:
    key = await shop.buy_key(buyer_id, max_activations=1, entitlements=["pro"])
    base = str(client.make_url("/"))
    fingerprint = machine_fingerprint()
    assert fingerprint == machine_fingerprint()
    async with LicenseClient(base) as licenses:
        activation = await licenses.activate(key, fingerprint, name="Test machine")
        assert activation["license"]["activation_count"] == 1
        checked = await licenses.validate(key, fingerprint, ["pro"])
        assert (checked["valid"], checked["code"]) == (True, "VALID")
        with pytest.raises(LicenseRefused) as refused:
            await licenses.activate(key, "another machine")
        assert refused.value.code == "TOO_MANY_ACTIVATIONS"
        assert refused.value.status == 403
        well_known = await licenses.public_keys()
        document = verify_license_file(activation["license_file"], well_known, fingerprint)
        assert "pro" in document["license"]["entitlements"]
        encrypted = await licenses.license_file(key.lower(), fingerprint, encrypt=True, ttl=3600)
        assert verify_license_file(encrypted, well_known, fingerprint, key=key.lower())["meta"]["ttl"] == 3600
        with pytest.raises(LicenseFileInvalid):
            verify_license_file(encrypted, well_known, fingerprint)
        later = document["meta"]["expiry"]
        with pytest.raises(LicenseFileInvalid, match="expired"):
            verify_license_file(
                activation["license_file"], well_known, fingerprint, now=datetime.fromisoformat(later) + timedelta(1)
            )
        freed = await licenses.deactivate(key, fingerprint=fingerprint)
        assert freed["license"]["activation_count"] == 0
        assert (await licenses.validate("AAAAA-AAAAA-AAAAA-AAAAA"))["code"] == "NOT_FOUND"
        with pytest.raises(LicenseRefused) as refused:
            await licenses.heartbeat(key, activation["activation_id"])
        assert refused.value.code == "ACTIVATION_NOT_FOUND"


async def test_an_unreachable_server_means_stay_in_grace() -> None:
    async with LicenseClient(f"http://127.0.0.1:{free_port()}", timeout=5) as licenses:
        with pytest.raises(OfflineError):
            await licenses.validate("AAAAA-AAAAA-AAAAA-AAAAA")
