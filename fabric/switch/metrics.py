"""Prometheus metrics of the switch daemon (one registry per daemon, so tests can build several)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from fabric.model.status import SyncResult

PHASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class SwitchMetrics:
    """Sync duration per phase, last success, desired vs applied revision, errors by phase, FRR delta."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.phase_seconds = Histogram(
            "fabric_switch_sync_phase_seconds", "Duration of one sync phase", ["phase"],
            registry=r, buckets=PHASE_BUCKETS,
        )  # fmt: skip
        self.sync_seconds = Histogram(
            "fabric_switch_sync_seconds", "Duration of a whole sync", registry=r, buckets=PHASE_BUCKETS
        )
        self.last_success = Gauge(
            "fabric_switch_last_success_timestamp_seconds", "When a sync last succeeded", registry=r
        )
        self.desired_revision = Gauge(
            "fabric_switch_desired_revision", "Revision of the latest desired state", registry=r
        )
        self.applied_revision = Gauge(
            "fabric_switch_applied_revision", "Revision of the last applied state", registry=r
        )
        self.errors = Counter("fabric_switch_sync_errors_total", "Failed syncs", ["phase"], registry=r)
        self.frr_delta = Gauge(
            "fabric_switch_frr_delta_lines", "FRR lines differing after the last apply", registry=r
        )
        self.paused = Gauge("fabric_switch_paused", "1 while the switch is paused", registry=r)

    def record(self, result: SyncResult, seconds: float) -> None:
        """Account for one sync attempt."""
        self.sync_seconds.observe(seconds)
        for timing in result.phases:
            self.phase_seconds.labels(timing.phase).observe(timing.seconds)
        self.applied_revision.set(result.applied_revision)
        self.frr_delta.set(len(result.drift))
        self.paused.set(1 if result.paused else 0)
        if result.ok:
            self.last_success.set(time.time())
        else:
            self.errors.labels(result.failing_phase or "unknown").inc()

    def serve(self, port: int) -> None:
        """Expose the registry on http://0.0.0.0:`port`/metrics."""
        start_http_server(port, registry=self.registry)
