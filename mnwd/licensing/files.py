"""Offline license files and the keys that sign them.

A license file is text::

    -----BEGIN LICENSE FILE-----
    <base64 of {"enc": ..., "sig": ..., "alg": ..., "kid": ...}, wrapped at 64 columns>
    -----END LICENSE FILE-----

``enc`` is the license document (``{"license", "activation", "meta": {"issued", "expiry", "ttl"}}``) as
base64 of its JSON (``alg`` ``base64+ed25519``), or AES-256-GCM encrypted under SHA-256(key + fingerprint)
as ``b64(ciphertext).b64(iv).b64(tag)`` (``aes-256-gcm+ed25519``). ``sig`` is the Ed25519 signature of the
bytes ``"license/" + enc`` by the signing key ``kid``, whose public key is listed at
``/.well-known/mnwd-license-keys.json``.

Signing keys live in ``license_signing_keys``: the private key encrypted with the server's keyring (so every
daemon of one deployment signs with the same key), the current one the one not retired. `rotate_signing_key`
(``mnwd license rotate-key``) retires the current key and makes a new one; retired keys stay listed, so files
they signed keep verifying until they expire. Races handled: two daemons making the first key at once — a
partial unique index allows one current key, the loser reads the winner's; a rotation runs in one
transaction (retire, then insert).

`verify_license_file` is what an app does, with only the public keys (docs/licensing.md has it standalone).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import textwrap
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import BadRequest
from mnwd.licensing import activations, keys, queries
from mnwd.licensing.errors import LicenseNotFound, LicenseRefused
from mnwd.licensing.model import Activation, License
from mnwd.licensing.settings import LicensingSettings
from mnwd.services import Services

__all__ = [
    "BEGIN",
    "END",
    "MAX_TTL",
    "MIN_TTL",
    "LicenseFileInvalid",
    "file_for_device",
    "license_file",
    "public_keys",
    "rotate_signing_key",
    "verify_license_file",
]

BEGIN = "-----BEGIN LICENSE FILE-----"
END = "-----END LICENSE FILE-----"
MIN_TTL = 3600
MAX_TTL = 366 * 86400
PURPOSE = "licensing.signing-key"


class LicenseFileInvalid(ValueError):
    """A license file that is malformed, altered, signed by an unknown key, for another device, or expired."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _new_key(services: Services) -> tuple[str, bytes, str]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = "lk_" + secrets.token_hex(8)
    return kid, public, services.keyring.encrypt(PURPOSE, _b64(raw))


async def _current_key(services: Services) -> tuple[str, Ed25519PrivateKey]:
    row = await queries.get_current_signing_key(services.pool)
    if row is None:
        await queries.insert_signing_key_if_none(services.pool, *_new_key(services))
        row = await queries.get_current_signing_key(services.pool)
        assert row is not None
    raw = base64.b64decode(services.keyring.decrypt(PURPOSE, row["private_key"]))
    return row["kid"], Ed25519PrivateKey.from_private_bytes(raw)


async def rotate_signing_key(services: Services) -> str:
    """A new current key; the old one is retired but stays published. Returns the new key id."""
    kid, public, private = _new_key(services)

    async def body(tx: Tx) -> None:
        await queries.retire_current_signing_key(tx.conn)
        inserted = await queries.insert_signing_key_if_none(tx.conn, kid, public, private)
        assert inserted

    await run_tx(services.pool, "licensing.rotate_key", body, metrics=services.metrics)
    return kid


async def public_keys(services: Services) -> dict[str, Any]:
    """The document of ``/.well-known/mnwd-license-keys.json`` (a first key is made if there is none)."""
    rows = await queries.list_signing_keys(services.pool)
    if not rows:
        await _current_key(services)
        rows = await queries.list_signing_keys(services.pool)
    return {
        "keys": [
            {
                "kid": row["kid"],
                "alg": "ed25519",
                "public_key": _b64(row["public_key"]),
                "current": row["retired_at"] is None,
                "created_at": row["created_at"].isoformat(),
                "retired_at": row["retired_at"].isoformat() if row["retired_at"] else None,
            }
            for row in rows
        ]
    }


def _file_key(key: str, fingerprint: str) -> bytes:
    return hashlib.sha256((key + fingerprint).encode()).digest()


async def license_file(
    services: Services,
    license: License,
    activation: Activation,
    *,
    ttl: int | None = None,
    key: str | None = None,
) -> str:
    """The signed file for one activated device; encrypted when ``key`` (the license key's text) is given."""
    settings = services.config.section(LicensingSettings)
    seconds = int(settings.file_ttl) if ttl is None else ttl
    seconds = max(MIN_TTL, min(MAX_TTL, seconds))
    now = services.clock.now().replace(microsecond=0)
    expiry = now + timedelta(seconds=seconds)
    if activation.lease_expires_at is not None:
        # A floating seat's file ends with its lease: the seat is not the device's once the lease lapses.
        expiry = min(expiry, activation.lease_expires_at.replace(microsecond=0))
    document = {
        "license": license.summary(now),
        "activation": {
            "id": str(activation.id),
            "fingerprint": activation.machine_id,
            "name": activation.machine_name,
            "platform": activation.platform,
        },
        "meta": {"issued": now.isoformat(), "expiry": expiry.isoformat(), "ttl": seconds},
    }
    plain = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    if key is None:
        alg, enc = "base64+ed25519", _b64(plain)
    else:
        iv = secrets.token_bytes(12)
        sealed = AESGCM(_file_key(key, activation.machine_id)).encrypt(iv, plain, None)
        alg, enc = "aes-256-gcm+ed25519", f"{_b64(sealed[:-16])}.{_b64(iv)}.{_b64(sealed[-16:])}"
    kid, private = await _current_key(services)
    sig = _b64(private.sign(f"license/{enc}".encode()))
    wrapper = json.dumps({"enc": enc, "sig": sig, "alg": alg, "kid": kid}, separators=(",", ":"))
    return "\n".join([BEGIN, *textwrap.wrap(_b64(wrapper.encode()), 64), END]) + "\n"


async def file_for_device(
    services: Services, key: str, fingerprint: str, *, ttl: int | None = None, encrypt: bool = False
) -> str:
    """``GET /api/v1/licenses/file``: only for a device activated with a key that is valid now."""
    if ttl is not None and not MIN_TTL <= ttl <= MAX_TTL:
        raise BadRequest(f"ttl must be between {MIN_TTL} and {MAX_TTL} seconds.")
    outcome = await activations.validate(services, key, fingerprint)
    if outcome.license is None:
        raise LicenseNotFound()
    if not outcome.valid or outcome.activation is None:
        raise LicenseRefused(outcome.code, activations.CODES[outcome.code])
    normalized = keys.normalize_key(key)
    return await license_file(
        services, outcome.license, outcome.activation, ttl=ttl, key=normalized if encrypt else None
    )


def verify_license_file(
    text: str,
    public_keys_by_kid: dict[str, bytes],
    *,
    now: datetime,
    key: str | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """The license document of a file, checked as an app would: signature by a known key, not expired,
    bound to ``fingerprint`` (and decrypted with ``key`` when encrypted). `LicenseFileInvalid` otherwise."""
    body = text.strip()
    if not body.startswith(BEGIN) or not body.endswith(END):
        raise LicenseFileInvalid("not a license file")
    try:
        wrapper = json.loads(base64.b64decode(body[len(BEGIN) : -len(END)].replace("\n", ""), validate=True))
        enc, sig, alg, kid = wrapper["enc"], wrapper["sig"], wrapper["alg"], wrapper["kid"]
        public = public_keys_by_kid[kid]
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(sig), f"license/{enc}".encode())
        if alg == "base64+ed25519":
            plain = base64.b64decode(enc, validate=True)
        elif alg == "aes-256-gcm+ed25519":
            if key is None or fingerprint is None:
                raise LicenseFileInvalid("an encrypted file needs the key and the fingerprint")
            ciphertext, iv, tag = (base64.b64decode(part, validate=True) for part in enc.split("."))
            plain = AESGCM(_file_key(key, fingerprint)).decrypt(iv, ciphertext + tag, None)
        else:
            raise LicenseFileInvalid(f"unknown algorithm {alg!r}")
        document: dict[str, Any] = json.loads(plain)
    except LicenseFileInvalid:
        raise
    except (KeyError, ValueError, TypeError, binascii.Error, InvalidSignature, InvalidTag) as exc:
        raise LicenseFileInvalid(f"the file does not verify: {type(exc).__name__}") from None
    if datetime.fromisoformat(document["meta"]["expiry"]) <= now:
        raise LicenseFileInvalid("the file has expired")
    if fingerprint is not None and document["activation"]["fingerprint"] != fingerprint:
        raise LicenseFileInvalid("the file is for another device")
    return document
