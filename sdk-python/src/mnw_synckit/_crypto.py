"""End-to-end encryption of rows, as docs/sync.md ("Keys") leaves it to clients.

- A **data key** per (app, user): 256 random bits. Rows travel as ``{"ciphertext", "iv", "key_version"}``:
  AES-256-GCM of the row's JSON with a random 96-bit IV and ``table NUL row_id`` as associated data, so a
  ciphertext moved to another row or table does not open.
- The **keyring** the server stores (``PUT /sync/v1/keys``, opaque text to it) is JSON:
  ``{"v": 1, "kdf": {"name": "scrypt", "salt", "n", "r", "p"}, "keys": {"1": {"iv", "ct"}, "2": …}}``: every
  data key version ever used, each sealed with AES-256-GCM under a key derived from the passphrase (scrypt),
  so rows written under an old version still open after a rotation.
- Rotation makes a new data key, adds it as ``current + 1`` and writes the keyring with compare-and-set on the
  version; a device that loses the race reads the winner's keyring.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mnw_synckit.errors import EncryptionError, WrongPassphrase

__all__ = ["Keyring", "is_sealed"]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 128 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def _row_aad(table: str, row_id: str) -> bytes:
    return table.encode() + b"\x00" + row_id.encode()


def is_sealed(data: Any) -> bool:
    return isinstance(data, dict) and {"ciphertext", "iv", "key_version"} <= data.keys()


@dataclass
class Keyring:
    """The data keys by version, and the passphrase-derived key that wraps them."""

    wrapping_key: bytes
    kdf: dict[str, Any]
    keys: dict[int, bytes] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return max(self.keys)

    @classmethod
    def create(cls, passphrase: str) -> Keyring:
        salt = os.urandom(16)
        kdf = {"name": "scrypt", "salt": _b64(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        return cls(_derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), kdf, {1: AESGCM.generate_key(256)})

    @classmethod
    def open(cls, encrypted_key: str, passphrase: str) -> Keyring:
        try:
            body = json.loads(encrypted_key)
            kdf = body["kdf"]
            wrapping = _derive(passphrase, _unb64(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
            sealed = {int(version): entry for version, entry in body["keys"].items()}
        except (ValueError, KeyError, TypeError) as error:
            raise EncryptionError(f"the stored key is not a keyring of this SDK: {error}") from error
        keys: dict[int, bytes] = {}
        for version, entry in sealed.items():
            try:
                keys[version] = AESGCM(wrapping).decrypt(_unb64(entry["iv"]), _unb64(entry["ct"]), _key_aad(version))
            except InvalidTag:
                raise WrongPassphrase("the passphrase does not open the stored key") from None
        if not keys:
            raise EncryptionError("the stored keyring holds no key")
        return cls(wrapping, kdf, keys)

    def rotated(self) -> Keyring:
        return Keyring(self.wrapping_key, self.kdf, {**self.keys, self.version + 1: AESGCM.generate_key(256)})

    def dump(self) -> str:
        sealed = {}
        for version, key in sorted(self.keys.items()):
            iv = os.urandom(12)
            sealed[str(version)] = {
                "iv": _b64(iv),
                "ct": _b64(AESGCM(self.wrapping_key).encrypt(iv, key, _key_aad(version))),
            }
        return json.dumps({"v": 1, "kdf": self.kdf, "keys": sealed}, separators=(",", ":"))

    def seal(self, table: str, row_id: str, row: dict[str, Any]) -> dict[str, Any]:
        iv = os.urandom(12)
        plaintext = json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()
        ciphertext = AESGCM(self.keys[self.version]).encrypt(iv, plaintext, _row_aad(table, row_id))
        return {"ciphertext": _b64(ciphertext), "iv": _b64(iv), "key_version": self.version}

    def open_row(self, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        version = int(data["key_version"])
        key = self.keys.get(version)
        if key is None:
            raise EncryptionError(f"no data key of version {version}: the keyring must be read again")
        try:
            plaintext = AESGCM(key).decrypt(_unb64(data["iv"]), _unb64(data["ciphertext"]), _row_aad(table, row_id))
        except (InvalidTag, ValueError) as error:
            raise EncryptionError(f"{table}/{row_id} does not open with key version {version}") from error
        row: dict[str, Any] = json.loads(plaintext)
        return row


def _key_aad(version: int) -> bytes:
    return f"mnw-synckit data key v{version}".encode()
