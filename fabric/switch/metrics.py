"""Prometheus metrics of the switch daemon: the loop's (`fabric.runtime.metrics`), errors, FRR delta."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from fabric.model.status import SyncResult
from fabric.runtime.metrics import SyncMetrics


class SwitchMetrics(SyncMetrics):
    """The loop's metrics plus errors by phase, the FRR delta after an apply, and the pause."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("fabric_switch", "SwitchState", registry)
        r = self.registry
        self.errors = Counter("fabric_switch_sync_errors_total", "Failed syncs", ["phase"], registry=r)
        self.frr_delta = Gauge(
            "fabric_switch_frr_delta_lines", "FRR lines differing after the last apply", registry=r
        )
        self.paused = Gauge("fabric_switch_paused", "1 while the switch is paused", registry=r)

    def record(self, result: SyncResult, seconds: float) -> None:
        """Account for one sync attempt."""
        self.record_sync(result, seconds)
        self.frr_delta.set(len(result.drift))
        self.paused.set(1 if result.paused else 0)
        if not result.ok:
            self.errors.labels(result.failing_phase or "unknown").inc()
