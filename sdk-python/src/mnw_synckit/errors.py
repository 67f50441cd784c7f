"""What the SDK raises.

SyncKitError
├── LoginRequired        no tokens, or the refresh token was refused: call ``login()`` again
├── LoginFailed          the browser came back with ``error=…``, or the code exchange was refused
├── ServerError          an answer the SDK cannot use (``status``, ``problem``: the problem+json body)
│   └── DeviceRevoked    this device was revoked (403 on push, 401 after registration)
├── OfflineError         the server could not be reached within the retry budget
├── EncryptionError      a record or the wrapped key cannot be opened
│   └── WrongPassphrase  the passphrase does not open the stored key
└── BlobCorrupt          a downloaded blob's SHA-256 is not the one asked for
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BlobCorrupt",
    "DeviceRevoked",
    "EncryptionError",
    "LoginFailed",
    "LoginRequired",
    "OfflineError",
    "ServerError",
    "SyncKitError",
    "WrongPassphrase",
]


class SyncKitError(Exception):
    """Every error the SDK raises."""


class LoginRequired(SyncKitError):
    """Not signed in, or no device registered: call ``login()`` first."""


class LoginFailed(SyncKitError):
    """The browser sign-in did not end with tokens (refused consent, no code, a timeout), or logout's
    revocation was refused."""


class ServerError(SyncKitError):
    def __init__(self, status: int, problem: dict[str, Any] | None, message: str = "") -> None:
        self.status = status
        self.problem = problem or {}
        detail = self.problem.get("detail") or self.problem.get("error_description") or message
        super().__init__(f"{status} {self.slug}: {detail}".rstrip(": "))

    @property
    def slug(self) -> str:
        """The last part of the problem ``type`` (``must-refetch``, ``mutation-gap``…), or ``error`` of OAuth."""
        kind = str(self.problem.get("type") or self.problem.get("error") or "")
        return kind.rsplit("/", 1)[-1]


class DeviceRevoked(ServerError):
    """The server revoked this device or its grant; local writes stay in the outbox."""


class OfflineError(SyncKitError):
    """The server or its event stream could not be reached; local writes stay in the outbox."""


class EncryptionError(SyncKitError):
    """A record or key could not be sealed or opened."""


class WrongPassphrase(EncryptionError):
    """The passphrase does not unwrap the stored data key."""


class BlobCorrupt(SyncKitError):
    """Downloaded bytes do not match their content hash."""
