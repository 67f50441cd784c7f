from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mnwd.keyring import Keyring, KeyringError, load_secret_key


def test_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_secret_key(None, tmp_path)
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(None, tmp_path) == first
    assert len(first) >= 43
    assert load_secret_key("x" * 40, tmp_path) == b"x" * 40


def test_encryption_round_trips_and_detects_tampering() -> None:
    ring = Keyring(b"k" * 32)
    sealed = ring.encrypt("totp", "JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert ring.encrypt("totp", "JBSWY3DPEHPK3PXP") != sealed
    assert ring.decrypt("totp", sealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(KeyringError):
        ring.decrypt("other-purpose", sealed)
    with pytest.raises(KeyringError):
        Keyring(b"z" * 32).decrypt("totp", sealed)
    with pytest.raises(KeyringError):
        ring.decrypt("totp", sealed[:-4] + "AAAA")
    with pytest.raises(KeyringError):
        ring.decrypt("totp", "v9.abc")


def test_macs_depend_on_key_and_purpose() -> None:
    ring = Keyring(b"k" * 32)
    assert ring.mac("csrf", b"t") == ring.mac("csrf", b"t")
    assert ring.mac("csrf", b"t") != ring.mac("backup-code", b"t")
    assert ring.mac("csrf", b"t") != Keyring(b"z" * 32).mac("csrf", b"t")
