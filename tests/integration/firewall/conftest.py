"""A client / firewall / server trio of namespaces (built once per module on the test rig).

`outside` holds the far-side addresses, `cluster` the pod and load-balancer addresses; `fw` forwards
between them and carries the ruleset.  Every address a test may use sits on `lo` of its side, and a
real TCP/UDP server (lab/netprobe.py) listens on all of them, so a flow's verdict is whatever the loaded
ruleset does to real packets.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.adapters.nft import NftTable
from lab import netprobe
from lab.rig import Netns, Rig, veth, wait_until

PROBE = str(Path(netprobe.__file__))
PORTS = [22, 80, 443, 873, 5353, 8080, 8443, 9000, 9005, 9300, 9445, 9451]
CLUSTER_ROUTES = ["10.244.0.0/16", "203.0.113.10/31", "2001:db8:10::/56", "2001:db8:ffff::10/128"]


@dataclass
class Trio:
    outside: Netns
    fw: Netns
    cluster: Netns
    table: NftTable

    def side(self, address: str) -> Netns:
        addr = ipaddress.ip_address(address)
        inside = any(
            addr in ipaddress.ip_network(n)
            for n in CLUSTER_ROUTES
            if ipaddress.ip_network(n).version == addr.version
        )
        return self.cluster if inside else self.outside

    def add_addresses(self, addresses: list[str]) -> None:
        for address in sorted(set(addresses)):
            bits = 32 if ipaddress.ip_address(address).version == 4 else 128
            ns = self.side(address)
            present = ns.exec(["ip", "-j", "addr", "show", "dev", "lo"]).stdout
            if f'"{address}"' not in present:
                ns.ip("addr", "add", f"{address}/{bits}", "dev", "lo", *(["nodad"] if bits == 128 else []))

    def probe(self, flows: list[tuple[str, str, int, str]]) -> list[bool]:
        """Send each flow as real packets from the side of its source; True where it got through."""
        self.add_addresses([a for f in flows for a in f[:2]])
        results: dict[int, bool] = {}
        for ns in (self.outside, self.cluster):
            mine = [(i, f) for i, f in enumerate(flows) if self.side(f[0]) is ns]
            if not mine:
                continue
            out = ns.exec(
                [sys.executable, PROBE, "probe"], input=json.dumps([list(f) for _, f in mine]), timeout=30
            )
            assert out.ok, out.describe()
            results.update(zip([i for i, _ in mine], json.loads(out.stdout), strict=True))
        return [results[i] for i in range(len(flows))]


def _link(  # noqa: PLR0917 - two ends of a link
    rig_ns_a: Netns, a_if: str, a_addrs: list[str], b: Netns, b_if: str, b_addrs: list[str]
) -> None:
    veth(rig_ns_a, a_if, b, b_if)
    for address in a_addrs:
        rig_ns_a.ip("addr", "add", address, "dev", a_if, *(["nodad"] if ":" in address else []))
    for address in b_addrs:
        b.ip("addr", "add", address, "dev", b_if, *(["nodad"] if ":" in address else []))


@pytest.fixture(scope="module")
def trio(rig: Rig) -> Iterator[Trio]:
    outside, fw, cluster = rig.netns("out"), rig.netns("fw"), rig.netns("cl")
    _link(outside, "eth0", ["100.64.0.2/30", "fd00:1::2/64"], fw, "ext0", ["100.64.0.1/30", "fd00:1::1/64"])
    _link(cluster, "eth0", ["100.64.1.2/30", "fd00:2::2/64"], fw, "int0", ["100.64.1.1/30", "fd00:2::1/64"])
    outside.ip("route", "add", "default", "via", "100.64.0.1")
    outside.ip("-6", "route", "add", "default", "via", "fd00:1::1")
    cluster.ip("route", "add", "default", "via", "100.64.1.1")
    cluster.ip("-6", "route", "add", "default", "via", "fd00:2::1")
    for net in CLUSTER_ROUTES:
        fw.ip(
            *(["-6"] if ":" in net else []),
            "route",
            "add",
            net,
            "via",
            "fd00:2::2" if ":" in net else "100.64.1.2",
        )
    fw.ip("route", "add", "default", "via", "100.64.0.2")
    fw.ip("-6", "route", "add", "default", "via", "fd00:1::2")
    logs = rig.tempdir("netprobe")
    for ns in (outside, cluster):
        log = logs / f"{ns.node}.log"
        ns.start([sys.executable, PROBE, "serve", *map(str, PORTS)], what=f"netprobe@{ns.node}", log_path=log)
        wait_until(
            lambda log=log: log.exists() and "ready" in log.read_text(),
            timeout=10,
            what=f"netprobe in {ns.node}",
        )
    yield Trio(outside, fw, cluster, NftTable(prefix=["ip", "netns", "exec", fw.name]))
