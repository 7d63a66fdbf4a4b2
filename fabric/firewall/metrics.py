"""Prometheus metrics of the firewall daemon (one registry per daemon, so tests can build several)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fabric.firewall.sync import Outcome

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DropCollector(Collector):
    """The table's named drop counters as last read from the kernel (a full reload resets them)."""

    def __init__(self) -> None:
        self.packets: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "fabric_firewall_dropped_packets",
            "Packets dropped, by drop counter of the table",
            labels=["counter"],
        )
        for name, packets in sorted(self.packets.items()):
            family.add_metric([name], packets)
        yield family


class FirewallMetrics:
    """Sync duration (whole and per phase), failures by phase, rules, elements, drops, revisions."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sync_seconds = Histogram(
            "fabric_firewall_sync_seconds", "Duration of a whole sync", registry=r, buckets=BUCKETS
        )
        self.phase_seconds = Histogram(
            "fabric_firewall_sync_phase_seconds", "Duration of one sync phase", ["phase"],
            registry=r, buckets=BUCKETS,
        )  # fmt: skip
        self.syncs = Counter("fabric_firewall_syncs", "Sync attempts", ["result"], registry=r)
        self.failures = Counter("fabric_firewall_sync_failures", "Failed syncs", ["phase"], registry=r)
        self.applies = Counter(
            "fabric_firewall_nft_applies", "nft applies by mode (unchanged, elements, full)", ["mode"],
            registry=r,
        )  # fmt: skip
        self.rules = Gauge("fabric_firewall_rules", "Rules in the applied table", registry=r)
        self.elements = Gauge("fabric_firewall_elements", "Set elements in the applied table", registry=r)
        self.rejected = Gauge(
            "fabric_firewall_rejected_objects", "Objects rejected with a reason", registry=r
        )
        self.objects = Gauge("fabric_firewall_cluster_objects", "Cached objects", ["kind"], registry=r)
        self.desired_revision = Gauge(
            "fabric_firewall_desired_revision", "Revision of the latest FirewallState", registry=r
        )
        self.applied_revision = Gauge(
            "fabric_firewall_applied_revision", "Revision of the last applied FirewallState", registry=r
        )
        self.last_success = Gauge(
            "fabric_firewall_last_success_timestamp_seconds", "When a sync last succeeded", registry=r
        )
        self.drops = DropCollector()
        r.register(self.drops)

    def record(self, outcome: Outcome, seconds: float) -> None:
        """Account for one sync attempt."""
        result = outcome.result
        self.sync_seconds.observe(seconds)
        for timing in result.phases:
            self.phase_seconds.labels(timing.phase).observe(timing.seconds)
        self.syncs.labels("ok" if result.ok else "failed").inc()
        self.applied_revision.set(result.applied_revision)
        self.rules.set(outcome.rules)
        self.elements.set(outcome.elements)
        self.rejected.set(sum(1 for c in outcome.conditions if not c.accepted))
        if result.ok:
            self.last_success.set(time.time())
            self.applies.labels(outcome.mode or "unknown").inc()
        else:
            self.failures.labels(result.failing_phase or "unknown").inc()

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        """Expose the registry on http://`address`:`port`/metrics."""
        start_http_server(port, addr=address, registry=self.registry)
