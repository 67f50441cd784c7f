"""Prometheus metrics, one registry per `Services` (no process-wide state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]


class _PoolCollector(Collector):
    def __init__(self, read: Callable[[], tuple[int, int, int] | None]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stats = self._read()
        if stats is None:
            return
        size, idle, maximum = stats
        family = GaugeMetricFamily("mnwd_db_pool_connections", "Database pool connections by state", labels=["state"])
        family.add_metric(["open"], size)
        family.add_metric(["idle"], idle)
        family.add_metric(["in_use"], size - idle)
        family.add_metric(["max"], maximum)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "mnwd_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "mnwd_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.transactions = Counter(
            "mnwd_db_transactions",
            "Database transactions run through run_tx, by name and outcome",
            ["name", "outcome"],
            registry=self.registry,
        )
        # The labelled children of the request metrics, looked up once per label set (labels() takes a lock
        # and builds a tuple each time: a tenth of the cost of a small request).
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    def request_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        counter = self._requests.get((route, method, status))
        if counter is None:
            counter = self._requests[route, method, status] = self.http_requests.labels(route, method, str(status))
        counter.inc()
        latency = self._latencies.get(route)
        if latency is None:
            latency = self._latencies[route] = self.http_latency.labels(route)
        latency.observe(seconds)

    def watch_pool(self, read: Callable[[], tuple[int, int, int] | None]) -> None:
        self.registry.register(_PoolCollector(read))
