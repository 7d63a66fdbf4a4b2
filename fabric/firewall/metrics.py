"""Prometheus metrics of the firewall daemon: the loop's (`fabric.runtime.metrics`) and its own."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fabric.firewall.sync import Outcome
from fabric.runtime.metrics import SyncMetrics


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


class FirewallMetrics(SyncMetrics):
    """The loop's metrics plus syncs by result, failures by phase, rules, elements, objects, drops."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("fabric_firewall", "FirewallState", registry)
        r = self.registry
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
        self.drops = DropCollector()
        r.register(self.drops)

    def record(self, outcome: Outcome, seconds: float) -> None:
        """Account for one sync attempt."""
        result = outcome.result
        self.record_sync(result, seconds)
        self.syncs.labels("ok" if result.ok else "failed").inc()
        self.rules.set(outcome.rules)
        self.elements.set(outcome.elements)
        self.rejected.set(sum(1 for c in outcome.conditions if not c.accepted))
        if result.ok:
            self.applies.labels(outcome.mode or "unknown").inc()
        else:
            self.failures.labels(result.failing_phase or "unknown").inc()
