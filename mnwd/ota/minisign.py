"""The minisign format Tauri's updater verifies, with `cryptography`'s Ed25519 (no minisign binary needed).

- ``generate_key()`` -> `SigningKey`: a new Ed25519 key with a random 8-byte key id.
- ``SigningKey.public_key_text()`` -> the minisign public key file (``untrusted comment`` line, then base64 of
  ``Ed`` + key id + public key); ``public_key_base64()`` is what ``tauri.conf.json``'s ``pubkey`` holds.
- ``SigningKey.sign(data, trusted_comment)`` -> the ``.sig`` text: algorithm ``ED`` (Ed25519 over the
  BLAKE2b-512 of the data), the trusted comment, and the global signature over signature + comment.
- ``verify(sig_text, data, public_key_text)`` -> None or raises `SignatureInvalid` with the reason;
  ``sig_from_base64(value)`` decodes the base64 form Tauri carries in ``signature``.
- ``prehash`` / ``new_prehasher``: the BLAKE2b-512 signed by ``ED``, so uploads are hashed as they stream and
  ``sign_prehashed`` / ``verify(..., digest=)`` never hold a whole file in memory.
- ``seal``/``unseal`` keep the secret as text for the keyring (`mnwd.keyring`) to encrypt at rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "SignatureInvalid",
    "SigningKey",
    "generate_key",
    "key_id_of_public",
    "public_key_from_base64",
    "sig_from_base64",
    "verify",
]

MAX_SIG_CHARS = 4096


class SignatureInvalid(ValueError):
    """A signature that is malformed, from another key, or not over these bytes."""


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id_text(key_id: bytes) -> str:
    return f"{int.from_bytes(key_id, 'little'):016X}"


@dataclass(frozen=True)
class SigningKey:
    key_id: bytes
    private: Ed25519PrivateKey

    def public_key_text(self) -> str:
        blob = base64.b64encode(b"Ed" + self.key_id + _raw_public(self.private.public_key())).decode()
        return f"untrusted comment: minisign public key {_key_id_text(self.key_id)}\n{blob}\n"

    def public_key_base64(self) -> str:
        return base64.b64encode(self.public_key_text().encode()).decode()

    def sign(self, data: bytes, trusted_comment: str) -> str:
        return self.sign_prehashed(prehash(data), trusted_comment)

    def sign_prehashed(self, digest: bytes, trusted_comment: str) -> str:
        """`sign` given the BLAKE2b-512 of the data (`prehash`), computed as the bytes streamed by."""
        if "\n" in trusted_comment or "\r" in trusted_comment:
            raise ValueError("a trusted comment is one line")
        signature = self.private.sign(digest)
        global_signature = self.private.sign(signature + trusted_comment.encode())
        return (
            f"untrusted comment: signature from mnwd secret key {_key_id_text(self.key_id)}\n"
            f"{base64.b64encode(b'ED' + self.key_id + signature).decode()}\n"
            f"trusted comment: {trusted_comment}\n"
            f"{base64.b64encode(global_signature).decode()}\n"
        )

    def seal(self) -> str:
        """The secret as text (key id and seed), to be encrypted before it is stored."""
        return base64.b64encode(self.key_id + self.private.private_bytes_raw()).decode()

    @classmethod
    def unseal(cls, text: str) -> SigningKey:
        raw = base64.b64decode(text)
        return cls(raw[:8], Ed25519PrivateKey.from_private_bytes(raw[8:]))


def prehash(data: bytes = b"") -> bytes:
    return hashlib.blake2b(data, digest_size=64).digest()


def new_prehasher() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=64)


def is_prehashed(sig_text: str) -> bool:
    """``ED`` (BLAKE2b-512 prehash, the default of minisign and tauri signer) rather than legacy ``Ed``."""
    return _parse(sig_text)[0] == b"ED"


def generate_key() -> SigningKey:
    return SigningKey(secrets.token_bytes(8), Ed25519PrivateKey.generate())


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"{what} is not base64") from None


def _public(public_key_text: str) -> tuple[bytes, Ed25519PublicKey]:
    lines = public_key_text.strip().splitlines()
    raw = _b64(lines[-1] if lines else "", "the public key")
    if len(raw) != 42 or raw[:2] != b"Ed":
        raise SignatureInvalid("the public key is not a minisign Ed25519 key")
    return raw[2:10], Ed25519PublicKey.from_public_bytes(raw[10:])


def key_id_of_public(public_key_text: str) -> bytes:
    return _public(public_key_text)[0]


def public_key_from_base64(value: str) -> str:
    """The public key file's text from the base64 form ``tauri.conf.json`` holds."""
    try:
        return _b64(value, "the public key").decode()
    except UnicodeDecodeError:
        raise SignatureInvalid("the public key is not text") from None


def sig_from_base64(value: str) -> str:
    """The ``.sig`` text from its base64 (the ``signature`` field, the ``X-Signature`` header)."""
    if len(value) > MAX_SIG_CHARS:
        raise SignatureInvalid("the signature is too long")
    try:
        text = _b64(value, "the signature").decode()
    except UnicodeDecodeError:
        raise SignatureInvalid("the signature is not text") from None
    _parse(text)
    return text


def _parse(sig_text: str) -> tuple[bytes, bytes, bytes, str, bytes]:
    lines = sig_text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 4 or not lines[0].startswith("untrusted comment: "):
        raise SignatureInvalid("a minisign signature has four lines, the first an untrusted comment")
    raw = _b64(lines[1], "the signature line")
    if len(raw) != 74 or raw[:2] not in (b"Ed", b"ED"):
        raise SignatureInvalid("the signature line is not an Ed25519 minisign signature")
    if not lines[2].startswith("trusted comment: "):
        raise SignatureInvalid("the third line must be the trusted comment")
    global_signature = _b64(lines[3], "the global signature")
    if len(global_signature) != 64:
        raise SignatureInvalid("the global signature is not 64 bytes")
    return raw[:2], raw[2:10], raw[10:], lines[2][len("trusted comment: ") :], global_signature


def trusted_comment(sig_text: str) -> str:
    return _parse(sig_text)[3]


def verify(sig_text: str, data: bytes, public_key_text: str, *, digest: bytes | None = None) -> None:
    """``digest``: the data's `prehash`, when the data is not at hand (then only ``ED`` signatures verify)."""
    algorithm, key_id, signature, comment, global_signature = _parse(sig_text)
    expected_id, public = _public(public_key_text)
    if key_id != expected_id:
        raise SignatureInvalid(
            f"the signature is from key {_key_id_text(key_id)}, not the app's key {_key_id_text(expected_id)}"
        )
    prehashed = digest if digest is not None else prehash(data)
    message = prehashed if algorithm == b"ED" else data
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise SignatureInvalid("the signature does not match the file's bytes") from None
    try:
        public.verify(global_signature, signature + comment.encode())
    except InvalidSignature:
        raise SignatureInvalid("the trusted comment's signature does not verify") from None
