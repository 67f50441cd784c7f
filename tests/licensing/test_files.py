"""Offline license files: verified with only the public keys of /.well-known/mnwd-license-keys.json, refused
after one changed byte, after their expiry, on another device; key rotation keeps old files verifiable."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest

from mnwd.licensing.files import LicenseFileInvalid, rotate_signing_key, verify_license_file
from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api


async def well_known(client: Client) -> dict[str, bytes]:
    async with client.get("/.well-known/mnwd-license-keys.json") as response:
        assert response.status == 200
        doc = await response.json()
    return {k["kid"]: base64.b64decode(k["public_key"]) for k in doc["keys"]}


async def fetch_file(client: Client, key: str, fingerprint: str, **query: str) -> tuple[int, str]:
    async with client.get("/api/v1/licenses/file", params={"key": key, "fingerprint": fingerprint, **query}) as r:
        return r.status, await r.text()


async def test_the_activation_file_verifies_with_only_the_public_key(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id, entitlements=["pro"])
    status, doc = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    assert status == 201
    text = doc["license_file"]
    now = services.clock.now()
    document = verify_license_file(text, await well_known(client), now=now, fingerprint="laptop")
    assert document["activation"]["fingerprint"] == "laptop"
    assert document["license"]["status"] == "active"
    assert "pro" in document["license"]["entitlements"]
    assert key not in text
    assert document["meta"]["ttl"] == 30 * 86400

    with pytest.raises(LicenseFileInvalid, match="another device"):
        verify_license_file(text, await well_known(client), now=now, fingerprint="desktop")
    with pytest.raises(LicenseFileInvalid, match="expired"):
        verify_license_file(text, await well_known(client), now=now + timedelta(days=31))
    with pytest.raises(LicenseFileInvalid):
        verify_license_file(text, {}, now=now)


async def test_one_changed_byte_fails(client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services) -> None:
    key = await shop.buy_key(buyer_id)
    _, doc = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    text: str = doc["license_file"]
    keys = await well_known(client)
    lines = text.splitlines()
    body = "".join(lines[1:-1])
    failures = 0
    for position in range(0, len(body), 7):
        flipped = body[:position] + ("A" if body[position] != "A" else "B") + body[position + 1 :]
        try:
            verify_license_file("\n".join([lines[0], flipped, lines[-1]]), keys, now=services.clock.now())
        except LicenseFileInvalid:
            failures += 1
    assert failures == len(range(0, len(body), 7))


async def test_an_encrypted_file_needs_the_key_and_the_fingerprint(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id)
    await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    status, text = await fetch_file(client, key, "laptop", encrypt="1", ttl="3600")
    assert status == 200, text
    keys = await well_known(client)
    document = verify_license_file(text, keys, now=clock.now(), key=key, fingerprint="laptop")
    assert document["meta"]["ttl"] == 3600
    with pytest.raises(LicenseFileInvalid):
        verify_license_file(text, keys, now=clock.now(), key=key, fingerprint="desktop")
    with pytest.raises(LicenseFileInvalid):
        verify_license_file(text, keys, now=clock.now())
    with pytest.raises(LicenseFileInvalid, match="expired"):
        verify_license_file(text, keys, now=clock.now() + timedelta(seconds=3601), key=key, fingerprint="laptop")


async def test_files_only_for_activated_devices_of_valid_keys(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id)
    status, text = await fetch_file(client, key, "laptop")
    assert status == 403
    assert "FINGERPRINT_NOT_ACTIVATED" in text
    await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    for query in ({"ttl": "10"}, {"ttl": "soon"}, {"ttl": str(400 * 86400)}):
        assert (await fetch_file(client, key, "laptop", **query))[0] == 400
    assert (await fetch_file(client, "AAAAA-AAAAA-AAAAA-AAAAA", "laptop"))[0] == 404
    assert (await fetch_file(client, key, ""))[0] == 400
    await services.pool.execute("UPDATE license_keys SET status = 'revoked'")
    status, text = await fetch_file(client, key, "laptop")
    assert status == 403
    assert "REVOKED" in text


async def test_rotation_keeps_old_files_verifiable(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services
) -> None:
    key = await shop.buy_key(buyer_id)
    _, doc = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    old = doc["license_file"]
    first = await well_known(client)
    new_kid = await rotate_signing_key(services)
    assert new_kid not in first
    status, new = await fetch_file(client, key, "laptop")
    assert status == 200
    keys = await well_known(client)
    assert set(keys) == {*first, new_kid}
    now = services.clock.now()
    assert verify_license_file(old, keys, now=now)["activation"]["fingerprint"] == "laptop"
    assert verify_license_file(new, keys, now=now)["activation"]["fingerprint"] == "laptop"
    with pytest.raises(LicenseFileInvalid):
        verify_license_file(new, first, now=now)
    async with client.get("/.well-known/mnwd-license-keys.json") as response:
        current = [k["kid"] for k in (await response.json())["keys"] if k["current"]]
    assert current == [new_kid]
