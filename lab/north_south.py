"""North-south through the lab's firewall: tenant alpha's machine m1 and the internet host, with the
cluster's NetworkPolicies deciding on fw01.

The cluster (served by the Kubernetes STAND-IN, `lab.kube`): namespace `shop`, a Pod `web` whose
addresses are m1's own, a NetworkPolicy letting `web` reach the internet on tcp/80 only, and a
LoadBalancer Service `web` on tcp/443 whose address (a project IP from the API) m1 announces as
MetalLB's speaker would (the lab agent's STAND-IN speaker, `lab.machine.speak`).  Each `Flow` is tried
with real packets (`lab.netprobe`: a TCP connect that the server answers with the source
address it saw) and compared with what the policy and fw01's SNAT should make of it; `flip` changes the
policy live and measures how long the first packet of the newly allowed flow takes to pass.
"""

from __future__ import annotations

import ipaddress
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import netprobe
from lab.exit_router import INTERNET_ADDRESSES, INTERNET_HOST
from lab.fabric_lab import exec_in
from lab.kube import change
from lab.rig import start_daemon, wait_until
from lab.rig.run import Ledger
from lab.state import LabState

NAMESPACE, POD = "shop", "web"
ALLOWED_PORT, DENIED_PORT = 80, 81
SERVED_PORT, UNSERVED_PORT = 443, 8443  # the Service's port, and one it does not expose
SERVER_PORTS = (ALLOWED_PORT, DENIED_PORT)  # the internet host's servers
SERVICE_PORTS = (SERVED_PORT, UNSERVED_PORT)  # m1's: the firewall, not the server, refuses 8443
Raw = dict[str, Any]


@dataclass(frozen=True)
class Flow:
    """One flow of the table: `src` (a node and its address) to `dst`:`port`/tcp."""

    name: str
    node: str
    src: str
    dst: str
    port: int
    allowed: bool
    seen_as: str | None  # the source the server should see (None: denied, no answer)


@dataclass(frozen=True)
class Outcome:
    """What one flow did: answered or not, and the source address the server saw."""

    flow: Flow
    answered: bool
    seen: str | None

    @property
    def as_expected(self) -> bool:
        return self.answered == self.flow.allowed and self.seen == self.flow.seen_as


def egress_policy(ports: tuple[int, ...]) -> Raw:
    """`web` may open TCP connections to the internet on `ports` (both families), nothing else."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web-to-internet", "namespace": NAMESPACE},
        "spec": {
            "podSelector": {"matchLabels": {"app": POD}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }
            ],
        },
    }


def load_balancer(address: str) -> Raw:
    """Service `web`: tcp/443 on the load-balancer IP `address` (assigned: in its status)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": POD, "namespace": NAMESPACE},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": POD},
            "ports": [{"name": "https", "protocol": "TCP", "port": SERVED_PORT}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": address}]}},
    }


def cluster(machine_ips: list[str], balanced: str) -> list[Raw]:
    """The demo's cluster: the namespace, the Pod on m1's addresses, the egress policy (tcp/80), the
    Service on the load-balancer IP `balanced` (tcp/443)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": NAMESPACE, "labels": {"app": POD}},
        "spec": {"containers": [{"name": POD, "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": machine_ips[0], "podIPs": [{"ip": ip} for ip in machine_ips]},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return [namespace, pod, egress_policy((ALLOWED_PORT,)), load_balancer(balanced)]


def flows(machine: str, machine_ips: list[str], firewall_ips: list[str]) -> list[Flow]:
    """m1 to the internet host on the allowed and the denied port, per family.  IPv4 leaves from the
    firewall's own address (SNAT); m1's global IPv6 address is routed as it is."""
    out = []
    for src in machine_ips:
        family = ipaddress.ip_address(src).version
        dst = next(a for a in INTERNET_ADDRESSES if ipaddress.ip_address(a).version == family)
        own = [a for a in firewall_ips if ipaddress.ip_address(a).version == family]
        seen = own[0] if family == 4 and own else src
        out.append(
            Flow(
                f"{machine} -> internet tcp/{ALLOWED_PORT} IPv{family}",
                machine,
                src,
                dst,
                ALLOWED_PORT,
                True,
                seen,
            )
        )
        out.append(
            Flow(
                f"{machine} -> internet tcp/{DENIED_PORT} IPv{family}",
                machine,
                src,
                dst,
                DENIED_PORT,
                False,
                None,
            )
        )
    return out


def ingress_flows(balanced: str) -> list[Flow]:
    """The internet host to the load-balancer IP: the Service's port and one it does not expose.
    Nothing is translated on the way in: the server on m1 sees the internet host's own address."""
    family = ipaddress.ip_address(balanced).version
    src = next(a for a in INTERNET_ADDRESSES if ipaddress.ip_address(a).version == family)
    return [
        Flow(f"internet -> load balancer tcp/{port} IPv{family}", INTERNET_HOST, src, balanced, port, ok, to)
        for port, ok, to in ((SERVED_PORT, True, src), (UNSERVED_PORT, False, None))
    ]


def start_servers(state: LabState, node: str, ports: tuple[int, ...]) -> None:
    """netprobe on `node`, answering on `ports` (a daemon of the lab)."""
    record = state.node(node)
    if "netprobe" in record.daemons:
        return
    argv = ["ip", "netns", "exec", record.netns, sys.executable, netprobe.__file__, "serve", *map(str, ports)]
    log = state.directory / f"netprobe-{node}.log"
    daemon = start_daemon(Ledger.load(state.directory), argv, what=f"netprobe@{node}", log_path=log)
    wait_until(lambda: log.exists() and "ready" in log.read_text(), timeout=10, what=f"netprobe@{node} ready")
    record.daemons["netprobe"] = (daemon.pid, daemon.item.start)
    state.save()


def attempt(state: LabState, flow: Flow, timeout: float = netprobe.TIMEOUT) -> Outcome:
    """Try `flow` once with a real connection from its node (no answer within `timeout`: not passed)."""
    argv = [sys.executable, netprobe.__file__, "ask", flow.src, flow.dst, str(flow.port), "TCP", str(timeout)]
    result = exec_in(state.name, flow.node, argv, timeout=15)
    seen = result.stdout.strip() or None if result.ok else None
    return Outcome(flow, result.ok, seen)


PROBE_S = 0.2  # one fresh connection per try: a SYN the firewall dropped is not retried 1 s later


def passes(state: LabState, flow: Flow, timeout: float = netprobe.TIMEOUT) -> bool:
    """Whether `flow` is answered now."""
    return attempt(state, flow, timeout).answered


def apply_cluster(state: LabState, objects: list[Raw]) -> str:
    """Change the lab's cluster (the stand-in), all or nothing; the resourceVersion after it."""
    token = Path(state.kube_token_file or "").read_text().strip()
    return change(state.kube_url or "", token, "apply", objects)


def flip(state: LabState, flow: Flow, ports: tuple[int, ...], timeout: float = 60.0) -> float:
    """Apply the egress policy with `ports` and return the seconds until `flow` first passes (to
    within `PROBE_S`: each try is a new connection, answered within that or given up)."""
    start = time.monotonic()
    apply_cluster(state, [egress_policy(ports)])
    what = f"{flow.name} passes after the policy change"
    wait_until(lambda: passes(state, flow, PROBE_S), timeout=timeout, interval=0.0, what=what)
    return time.monotonic() - start
