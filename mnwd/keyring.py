"""Keys derived from the one secret key: MAC keys (CSRF, backup codes) and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Keyring", "KeyringError", "load_secret_key"]

_CIPHERTEXT_VERSION = "v1"


class KeyringError(ValueError):
    """Ciphertext that this key did not produce, or that was altered."""


def load_secret_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or the one generated into ``data_dir/secret_key`` on first start."""
    if configured is not None:
        return configured.encode()
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
    return path.read_bytes().strip()


class Keyring:
    def __init__(self, secret_key: bytes) -> None:
        self._secret = secret_key

    def derive(self, purpose: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"mnwd:{purpose}".encode()).derive(
            self._secret
        )

    def mac(self, purpose: str, message: bytes) -> bytes:
        return hmac.new(self.derive(purpose), message, hashlib.sha256).digest()

    def encrypt(self, purpose: str, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.derive(purpose)).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{_CIPHERTEXT_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, purpose: str, token: str) -> str:
        version, _, payload = token.partition(".")
        if version != _CIPHERTEXT_VERSION:
            raise KeyringError("unknown ciphertext version")
        try:
            raw = base64.urlsafe_b64decode(payload)
            return AESGCM(self.derive(purpose)).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise KeyringError("ciphertext does not decrypt with this key") from exc
