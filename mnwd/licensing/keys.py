"""License key text: ``XXXXX-XXXXX-XXXXX-XXXXX`` from 30 characters a person cannot confuse (no 0/O, 1/I/L,
no U), about 98 bits of randomness.

What is stored (docs/licensing.md#how-keys-are-stored): ``key_hash``, the SHA-256 of the normalised key, is
what every lookup uses; ``key_code`` is the key encrypted with the server's keyring (purpose
``licensing.key``), so its buyer can be shown it again after signing in while a copy of the database alone
does not give anyone a working key; ``key_last``, its last group, lets a creator tell keys apart. A plain
SHA-256 (no secret) is enough for the hash: a key has far too much entropy to be guessed from it, and
lookups keep working when the server's secret key changes (only showing the key again needs that secret).
"""

from __future__ import annotations

import hashlib
import secrets

from mnwd.keyring import Keyring, KeyringError

__all__ = [
    "ALPHABET",
    "decrypt_key",
    "encrypt_key",
    "generate_key",
    "key_hash",
    "key_last",
    "normalize_key",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 4
GROUP_LENGTH = 5
PURPOSE = "licensing.key"
_ALLOWED = frozenset(ALPHABET)


def generate_key() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def normalize_key(text: str) -> str | None:
    """The key as typed (any case, spaces or dashes anywhere) in its canonical form, or None if it cannot be one."""
    if len(text) > 100:
        return None
    chars = "".join(c for c in text.upper() if c not in " -\t")
    if len(chars) != GROUPS * GROUP_LENGTH or not set(chars) <= _ALLOWED:
        return None
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def key_hash(key: str) -> bytes:
    """The lookup hash of a normalised key."""
    return hashlib.sha256(key.encode()).digest()


def key_last(key: str) -> str:
    return key.rsplit("-", 1)[-1]


def encrypt_key(keyring: Keyring, key: str) -> str:
    return keyring.encrypt(PURPOSE, key)


def decrypt_key(keyring: Keyring, stored: str) -> str | None:
    """The key for its buyer's eyes; None when the server's secret key changed since it was issued."""
    try:
        return keyring.decrypt(PURPOSE, stored)
    except KeyringError:
        return None
