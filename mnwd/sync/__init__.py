"""SyncKit: devices, push and pull with a gap-free cursor, live pokes, E2E keys, blobs, compaction.

Nothing depends on sync; ``DOMAIN`` is the plug-in the daemon loads (see docs/sync.md for the protocol).
"""

from mnwd.sync.domain import DOMAIN

__all__ = ["DOMAIN"]
