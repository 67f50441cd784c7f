"""The sync domain's Prometheus metrics, registered on the daemon's registry when the domain starts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from mnwd.services import ServiceKey

__all__ = ["SYNC_METRICS", "SyncMetrics"]


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter("mnwd_sync_changes", "Sync changes pushed and pulled", ["direction"], registry=registry)
        self.pushed = self.changes.labels("push")
        self.pulled = self.changes.labels("pull")


SYNC_METRICS = ServiceKey("sync.metrics", SyncMetrics)
