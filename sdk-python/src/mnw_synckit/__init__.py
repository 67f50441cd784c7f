"""mnw-synckit: an offline-first client of SyncKit (mnwd's ``/sync/v1``).

A local SQLite store the app reads and writes at once, an outbox that survives crashes, and a sync engine
that pushes, pulls and listens for pokes. See the README for a quick start.
"""

from mnw_synckit._blobs import Blobs
from mnw_synckit._blocking import BlockingSyncClient
from mnw_synckit._client import Conflicts, SyncClient, Transaction
from mnw_synckit._engine import SyncStatus
from mnw_synckit._http import Backoff
from mnw_synckit._store import Rejected, Row
from mnw_synckit._tokens import FileTokenStore, KeyringTokenStore, Tokens, TokenStore
from mnw_synckit.errors import (
    BlobCorrupt,
    DeviceRevoked,
    EncryptionError,
    LoginFailed,
    LoginRequired,
    OfflineError,
    ServerError,
    SyncKitError,
    WrongPassphrase,
)

__all__ = [
    "Backoff",
    "BlobCorrupt",
    "Blobs",
    "BlockingSyncClient",
    "Conflicts",
    "DeviceRevoked",
    "EncryptionError",
    "FileTokenStore",
    "KeyringTokenStore",
    "LoginFailed",
    "LoginRequired",
    "OfflineError",
    "Rejected",
    "Row",
    "ServerError",
    "SyncClient",
    "SyncKitError",
    "SyncStatus",
    "TokenStore",
    "Tokens",
    "Transaction",
    "WrongPassphrase",
]
