"""End-to-end encryption: two devices sharing a passphrase read each other's rows; the server holds only
ciphertext; rotation keeps old rows readable; a wrong passphrase or a moved ciphertext does not open."""

from __future__ import annotations

import json

import pytest
from mnw_synckit import EncryptionError, WrongPassphrase
from mnw_synckit._crypto import Keyring

from tests.sdk.conftest import MakeDevice, SdkApp, server_rows

pytestmark = pytest.mark.e2e

SECRET = "the launch code is 0000"
PASSPHRASE = "correct horse battery staple"


async def test_two_devices_share_a_passphrase_and_the_server_sees_no_plaintext(
    make_device: MakeDevice, sdk_app: SdkApp
) -> None:
    laptop = await make_device("laptop", passphrase=PASSPHRASE)
    phone = await make_device("phone", passphrase=PASSPHRASE)
    await laptop.put("notes", "n1", {"title": SECRET, "done": False})
    await laptop.sync()
    await phone.sync()
    assert await phone.get("notes", "n1") == {"title": SECRET, "done": False}

    await phone.update("notes", "n1", {"done": True})
    await phone.sync()
    await laptop.sync()
    assert await laptop.get("notes", "n1") == {"title": SECRET, "done": True}

    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert len(log) == 2
    for row in log:
        data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
        assert set(data) == {"ciphertext", "iv", "key_version"}
        assert "launch" not in json.dumps(data)
    key = await sdk_app.pool.fetchval("SELECT encrypted_key FROM sync_keys")
    assert PASSPHRASE not in key


async def test_rotation_keeps_old_rows_readable(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop", passphrase=PASSPHRASE)
    phone = await make_device("phone", passphrase=PASSPHRASE)
    await laptop.put("notes", "old", {"v": "under key 1"})
    await laptop.sync()
    assert await laptop.rotate_key() == 2
    await laptop.put("notes", "new", {"v": "under key 2"})
    await laptop.sync()

    versions = {}
    for row in await server_rows(sdk_app.pool, sdk_app.app):
        data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
        versions[row["row_id"]] = data["key_version"]
    assert versions == {"old": 1, "new": 2}
    await phone.sync()  # phone holds key 1 only: it reads the keyring again for key 2
    assert await phone.get("notes", "old") == {"v": "under key 1"}
    assert await phone.get("notes", "new") == {"v": "under key 2"}


async def test_a_wrong_passphrase_does_not_open_the_key(make_device: MakeDevice) -> None:
    await make_device("laptop", passphrase=PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        await make_device("phone", passphrase="guess")


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    keyring = Keyring.create(PASSPHRASE)
    sealed = keyring.seal("notes", "mine", {"secret": 1})
    assert keyring.open_row("notes", "mine", sealed) == {"secret": 1}
    with pytest.raises(EncryptionError):
        keyring.open_row("notes", "theirs", sealed)
    with pytest.raises(EncryptionError):
        keyring.open_row("todos", "mine", sealed)
    reopened = Keyring.open(keyring.dump(), PASSPHRASE)
    assert reopened.open_row("notes", "mine", sealed) == {"secret": 1}
