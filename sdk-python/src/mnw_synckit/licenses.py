"""License keys for a desktop app sold on mnwd: activate, validate, deactivate, heartbeat, and offline license
files verified with only the server's public keys (docs/licensing.md on the server).

Three lines::

    from mnw_synckit.licenses import LicenseClient, machine_fingerprint
    async with LicenseClient("https://mnwd.example") as licenses:
        activation = await licenses.activate(key, machine_fingerprint(), name="My laptop")

What it raises: `LicenseRefused` (``code``: NOT_FOUND, SUSPENDED, EXPIRED, REVOKED, TOO_MANY_ACTIVATIONS,
HEARTBEAT_DEAD, ACTIVATION_NOT_FOUND...): deny. `mnw_synckit.errors.OfflineError` for no answer, 408, 429 and
5xx (``retry_after`` when the server said): stay in grace on the last good answer or the offline file.
`LicenseFileInvalid` from `verify_license_file`. ``validate`` never raises for a bad key: read ``valid`` and
``code``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import platform
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mnw_synckit.errors import OfflineError, ServerError

__all__ = [
    "LicenseClient",
    "LicenseFileInvalid",
    "LicenseRefused",
    "machine_fingerprint",
    "verify_license_file",
]

BEGIN = "-----BEGIN LICENSE FILE-----"
END = "-----END LICENSE FILE-----"
GRACE_STATUSES = {408, 429}


class LicenseRefused(ServerError):
    """The server refused the key or the device (403/404 with a ``code``): deny, and tell the user why."""

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or "")


class LicenseFileInvalid(ValueError):
    """A license file altered, signed by an unknown key, for another device, or expired."""


class LicenseOffline(OfflineError):
    """No usable answer (network, 408, 429, 5xx): stay in grace; ``retry_after`` seconds when known."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def machine_fingerprint(salt: str = "mnw-licenses") -> str:
    """A stable id of this machine that does not reveal it: SHA-256 of the OS machine id (or the MAC address)."""
    raw = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            raw = Path(path).read_text().strip()
            break
        except OSError:
            continue
    if not raw:
        raw = f"{uuid.getnode():x}-{platform.node()}"
    return hashlib.sha256(f"{salt}:{raw}".encode()).hexdigest()[:40]


class LicenseClient:
    """The license API of one server. Use as ``async with``, or pass an ``aiohttp.ClientSession`` you own."""

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> LicenseClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(method, self.base_url + path, **kw) as response:
                if response.status in GRACE_STATUSES or response.status >= 500:
                    retry = response.headers.get("Retry-After", "")
                    raise LicenseOffline(
                        f"the license server answered {response.status}", int(retry) if retry.isdigit() else None
                    )
                body: Any = (
                    await response.json(content_type=None) if "json" in response.content_type else await response.text()
                )
                if response.status >= 400:
                    raise LicenseRefused(response.status, body if isinstance(body, dict) else None)
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LicenseOffline(f"the license server could not be reached: {exc!r}") from exc

    async def activate(
        self,
        key: str,
        fingerprint: str,
        *,
        name: str | None = None,
        platform: str | None = None,
        app_version: str | None = None,
    ) -> dict[str, Any]:
        """``{activation_id, activation, license, license_file}``; the same fingerprint again is the same seat."""
        body = {"key": key, "fingerprint": fingerprint, "name": name, "platform": platform, "app_version": app_version}
        answer: dict[str, Any] = await self._call("POST", "/api/v1/licenses/activate", json=body)
        return answer

    async def validate(
        self, key: str, fingerprint: str | None = None, entitlements: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``{valid, code, detail, license}``."""
        body: dict[str, Any] = {"key": key, "entitlements": list(entitlements)}
        if fingerprint is not None:
            body["fingerprint"] = fingerprint
        answer: dict[str, Any] = await self._call("POST", "/api/v1/licenses/validate", json=body)
        return answer

    async def deactivate(
        self, key: str, *, activation_id: str | None = None, fingerprint: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"key": key}
        if activation_id is not None:
            body["activation_id"] = activation_id
        if fingerprint is not None:
            body["fingerprint"] = fingerprint
        answer: dict[str, Any] = await self._call("POST", "/api/v1/licenses/deactivate", json=body)
        return answer

    async def heartbeat(self, key: str, activation_id: str) -> dict[str, Any]:
        body = {"key": key, "activation_id": activation_id}
        answer: dict[str, Any] = await self._call("POST", "/api/v1/licenses/heartbeat", json=body)
        return answer

    async def license_file(self, key: str, fingerprint: str, *, ttl: int | None = None, encrypt: bool = False) -> str:
        params = {"key": key, "fingerprint": fingerprint}
        if ttl is not None:
            params["ttl"] = str(ttl)
        if encrypt:
            params["encrypt"] = "1"
        text: str = await self._call("GET", "/api/v1/licenses/file", params=params)
        return text

    async def public_keys(self) -> dict[str, Any]:
        """The server's ``/.well-known/mnwd-license-keys.json`` (ship a copy with the app; refresh on a new kid)."""
        answer: dict[str, Any] = await self._call("GET", "/.well-known/mnwd-license-keys.json")
        return answer


def verify_license_file(
    text: str,
    well_known: dict[str, Any],
    fingerprint: str,
    *,
    key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The license document of an offline file, checked with only the public keys: its signature, its expiry,
    its device (and decrypted with the key when encrypted). `LicenseFileInvalid` otherwise."""
    body = text.strip()
    if not body.startswith(BEGIN) or not body.endswith(END):
        raise LicenseFileInvalid("not a license file")
    try:
        wrapper = json.loads(base64.b64decode("".join(body[len(BEGIN) : -len(END)].split()), validate=True))
        public = {k["kid"]: base64.b64decode(k["public_key"]) for k in well_known["keys"]}[wrapper["kid"]]
        enc = wrapper["enc"]
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(wrapper["sig"]), f"license/{enc}".encode())
        if wrapper["alg"] == "base64+ed25519":
            plain = base64.b64decode(enc, validate=True)
        elif wrapper["alg"] == "aes-256-gcm+ed25519" and key is not None:
            normalized = "".join(c for c in key.upper() if c not in " -\t")
            canonical = "-".join(normalized[i : i + 5] for i in range(0, len(normalized), 5))
            ciphertext, iv, tag = (base64.b64decode(part, validate=True) for part in enc.split("."))
            secret = hashlib.sha256((canonical + fingerprint).encode()).digest()
            plain = AESGCM(secret).decrypt(iv, ciphertext + tag, None)
        else:
            raise LicenseFileInvalid(
                f"cannot open a file of algorithm {wrapper['alg']!r} (an encrypted one needs the key)"
            )
        document: dict[str, Any] = json.loads(plain)
    except LicenseFileInvalid:
        raise
    except (KeyError, ValueError, TypeError, binascii.Error, InvalidSignature, InvalidTag) as exc:
        raise LicenseFileInvalid(f"the license file does not verify ({type(exc).__name__})") from None
    if datetime.fromisoformat(document["meta"]["expiry"]) <= (now or datetime.now(UTC)):
        raise LicenseFileInvalid("the license file has expired")
    if document["activation"]["fingerprint"] != fingerprint:
        raise LicenseFileInvalid("the license file is for another device")
    return document
