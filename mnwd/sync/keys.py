"""The wrapped end-to-end key of a stream: one per (app, user), replaced only by compare-and-set on its version.

The server never sees the data key: ``encrypted_key`` is the key wrapped by the client (with a key derived
from the user's passphrase, say) and is opaque here. ``key_version`` tells devices which key encrypted a
payload. Two devices must not both rotate from the same version, so a write names the version it replaces
(``expected_version``; ``None`` when it creates the first key) and loses with ``KeyVersionConflict`` when
that is no longer the stored one.

- ``get_key(pool, app_id, user_id)`` — the stored ``WrappedKey`` or ``None``.
- ``put_key(pool, app_id, user_id, expected_version=, key_version=, encrypted_key=)`` — ``(key, created)``.
  A retry of a write that already landed (same version, same key) answers as the write did.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, ValidationFailed
from mnwd.sync import queries

__all__ = ["MAX_ENCRYPTED_KEY_CHARS", "MAX_KEY_VERSION", "KeyVersionConflict", "WrappedKey", "get_key", "put_key"]

MAX_ENCRYPTED_KEY_CHARS = 16384
MAX_KEY_VERSION = 2**31 - 1  # the column is an INTEGER


@dataclass(frozen=True)
class WrappedKey:
    key_version: int
    encrypted_key: str
    updated_at: datetime

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> WrappedKey:
        return cls(key_version=row["key_version"], encrypted_key=row["encrypted_key"], updated_at=row["updated_at"])


class KeyVersionConflict(Conflict):
    """The stored key is not the one the write expected to replace: another device rotated first."""

    def __init__(self, expected_version: int | None, current_version: int | None) -> None:
        if current_version is None:
            detail = "There is no key to replace; create one with expected_version null."
        elif expected_version is None:
            detail = f"A key exists already (version {current_version}); fetch it instead of creating one."
        else:
            detail = (
                f"The key is at version {current_version}, not {expected_version}: another device changed it. "
                "Fetch the current key and decide again."
            )
        super().__init__(
            detail,
            slug="key-version-conflict",
            expected_version=expected_version,
            current_version=current_version,
        )


def _check(expected_version: int | None, key_version: int, encrypted_key: str) -> None:
    errors = []
    if expected_version is not None and key_version <= expected_version:
        errors.append({"field": "key_version", "message": "A new key needs a version above expected_version."})
    if "\x00" in encrypted_key:
        errors.append({"field": "encrypted_key", "message": "The key must not contain NUL characters."})
    if errors:
        raise ValidationFailed("The key was not stored.", errors=errors)


async def get_key(pool: asyncpg.Pool, app_id: uuid.UUID, user_id: uuid.UUID) -> WrappedKey | None:
    row = await queries.get_key(pool, app_id, user_id)
    return None if row is None else WrappedKey.from_record(row)


async def put_key(
    pool: asyncpg.Pool,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    expected_version: int | None,
    key_version: int,
    encrypted_key: str,
) -> tuple[WrappedKey, bool]:
    """Store the key when the stored version is ``expected_version`` (no key at all for ``None``).

    Returns the stored key and whether it was created. One statement decides (``ON CONFLICT DO NOTHING`` or
    ``UPDATE ... WHERE key_version = expected``), so of concurrent writes from one version exactly one wins.
    """
    _check(expected_version, key_version, encrypted_key)

    async def body(tx: Tx) -> tuple[WrappedKey, bool]:
        if expected_version is None:
            row = await queries.insert_key(
                tx.conn, app_id, user_id, key_version=key_version, encrypted_key=encrypted_key
            )
        else:
            row = await queries.update_key(
                tx.conn,
                app_id,
                user_id,
                expected_version=expected_version,
                key_version=key_version,
                encrypted_key=encrypted_key,
            )
        if row is not None:
            return WrappedKey.from_record(row), expected_version is None
        current = await queries.get_key(tx.conn, app_id, user_id)
        if current is not None and (current["key_version"], current["encrypted_key"]) == (key_version, encrypted_key):
            # The same write again (its answer was lost): it landed, say so rather than report a conflict.
            return WrappedKey.from_record(current), False
        raise KeyVersionConflict(expected_version, None if current is None else current["key_version"])

    return await run_tx(pool, "sync.keys.put", body)
