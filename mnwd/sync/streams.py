"""A stream is one (app, user) change log. Writes to a stream are serialised by one advisory lock."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["stream_lock_key"]


def stream_lock_key(app_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """The signed 64-bit key of ``pg_advisory_xact_lock`` for this stream."""
    digest = hashlib.sha256(app_id.bytes + user_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
