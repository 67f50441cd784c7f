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
    pass


class LoginRequired(SyncKitError):
    pass


class LoginFailed(SyncKitError):
    pass


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
    pass


class OfflineError(SyncKitError):
    pass


class EncryptionError(SyncKitError):
    pass


class WrongPassphrase(EncryptionError):
    pass


class BlobCorrupt(SyncKitError):
    pass
