"""The Prometheus metrics every daemon's loop records (one registry per daemon, so tests can build several).

Names start with the daemon's prefix (``fabric_switch``, ``fabric_firewall``); a daemon adds its own
metrics in a subclass and records them beside `record_sync`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from fabric.model.status import SyncResult

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class SyncMetrics:
    """Sync duration (whole and per phase), last success, desired vs applied revision."""

    def __init__(self, prefix: str, document: str, registry: CollectorRegistry | None = None) -> None:
        """`prefix` of every name; `document`: what the desired state is called in help texts."""
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sync_seconds = Histogram(
            f"{prefix}_sync_seconds", "Duration of a whole sync", registry=r, buckets=BUCKETS
        )
        self.phase_seconds = Histogram(
            f"{prefix}_sync_phase_seconds", "Duration of one sync phase", ["phase"],
            registry=r, buckets=BUCKETS,
        )  # fmt: skip
        self.last_success = Gauge(
            f"{prefix}_last_success_timestamp_seconds", "When a sync last succeeded", registry=r
        )
        self.desired_revision = Gauge(
            f"{prefix}_desired_revision", f"Revision of the latest {document}", registry=r
        )
        self.applied_revision = Gauge(
            f"{prefix}_applied_revision", f"Revision of the last applied {document}", registry=r
        )

    def record_sync(self, result: SyncResult, seconds: float) -> None:
        """Account for one sync attempt: its durations, the applied revision, the time of a success."""
        self.sync_seconds.observe(seconds)
        for timing in result.phases:
            self.phase_seconds.labels(timing.phase).observe(timing.seconds)
        self.applied_revision.set(result.applied_revision)
        if result.ok:
            self.last_success.set(time.time())

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        """Expose the registry on http://`address`:`port`/metrics."""
        start_http_server(port, addr=address, registry=self.registry)
