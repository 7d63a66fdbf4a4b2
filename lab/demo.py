"""The demo intent and the observations `fabric lab demo`, the end-to-end tests and the benchmark share.

`apply_demo` declares two tenants (projects alpha and beta, one private network each) with
`fabric apply -f`, then allocates through the API: m1 and m2 into alpha, m3 into beta, fw01 as alpha's
firewall (alpha's network and the internet).  Allocation waits until the switch daemons' LLDP reports
have taught the API the cabling (the API refuses a machine whose two NICs it has not seen on two leaves).
The rest observes: the fleet view (desired vs applied revision per switch), BGP sessions from the
switches' own FRR, and real pings between machines.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabric.adapters.api_client import ApiClient, ApiError
from lab import north_south
from lab.control import Api, agent_config, apply_file, lab_api
from lab.exit_router import INTERNET_HOST
from lab.machine import speak
from lab.north_south import Flow, Outcome
from lab.rig import wait_until
from lab.state import LabState

ALPHA, BETA = "alpha-net", "beta-net"
FIREWALL_BOOT_S = 300.0  # qemu under TCG, one vCPU: boot to lldpd and the daemon


@dataclass(frozen=True)
class Allocation:
    """One allocation of the demo: a machine (or firewall) into a project's networks."""

    kind: str  # machine | firewall
    name: str
    project: str | None
    networks: tuple[str, ...]


ALLOCATIONS = (
    Allocation("machine", "m1", "alpha", (ALPHA,)),
    Allocation("machine", "m2", "alpha", (ALPHA,)),
    Allocation("machine", "m3", "beta", (BETA,)),
    Allocation("firewall", "fw01", "alpha", (ALPHA, "internet")),
)
STAND_INS = (
    "SONiC's managers (lab.sonic: CONFIG_DB into kernel devices, LLDP and port state into APPL_DB and "
    "STATE_DB) and the Kubernetes API (lab.kube: list, watch, bookmarks, 410 Gone) are stand-ins; FRR, "
    "Redis, lldpd, nftables, the switch and firewall daemons and the firewall image are the real ones."
)


def demo_intent(partition: str) -> dict[str, Any]:
    """Projects and private networks of the demo, as a `fabric apply -f` document."""
    return {
        "projects": [{"name": "alpha"}, {"name": "beta"}],
        "networks": [
            {
                "name": ALPHA,
                "partition": partition,
                "kind": "private",
                "parent": "tenants",
                "project": "alpha",
            },
            {"name": BETA, "partition": partition, "kind": "private", "parent": "tenants", "project": "beta"},
        ],
    }


def call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One API request (synchronous; the lab's tools are plain scripts)."""

    async def go() -> Any:
        async with ApiClient(api.url, api.token) as client:
            return await client.request(method, path, body)

    return asyncio.run(go())


def allocate(api: Api, a: Allocation, *, timeout: float = 60.0) -> dict[str, Any]:
    """Allocate `a`, retrying while the API has not learned the cabling from LLDP yet."""
    body: dict[str, Any] = {"networks": list(a.networks)}
    if a.project:
        body["project"] = a.project
    path = f"/v1/{a.kind}s/{a.name}/allocate"

    def attempt() -> dict[str, Any] | None:
        try:
            return dict(call(api, "POST", path, body))
        except ApiError as exc:
            if "LLDP" in exc.detail or "cabled" in exc.detail or "leaves" in exc.detail:
                return None  # not learned yet
            raise

    done = wait_until(attempt, timeout=timeout, interval=0.25, what=f"allocate {a.name} (cabling from LLDP)")
    assert done is not None
    return done


def free(api: Api, kind: str, name: str) -> None:
    """Free a machine or firewall (idempotent)."""
    call(api, "POST", f"/v1/{kind}s/{name}/free")


def apply_demo(state: LabState, directory: Path) -> dict[str, dict[str, Any]]:
    """Declare the demo's tenants and allocate its machines and firewall; returns each allocation."""
    api = lab_api(state)
    intent = directory / "demo.yaml"
    intent.write_text(yaml.safe_dump(demo_intent(state.name), sort_keys=False))
    apply_file(api, intent)
    # A firewall VM is cabled once it booted (its lldpd announces its NICs): about a minute under TCG.
    return {
        a.name: allocate(api, a, timeout=FIREWALL_BOOT_S if a.kind == "firewall" else 60.0)
        for a in ALLOCATIONS
    }


def fleet(api: Api) -> list[dict[str, Any]]:
    """The API's fleet view: per switch/firewall desired and applied revision, drift, last error."""
    return list(call(api, "GET", "/v1/status"))


def switches_converged(api: Api) -> bool:
    """Every switch has applied its current desired revision without error."""
    rows = [r for r in fleet(api) if r["kind"] == "switch"]
    return bool(rows) and all(
        r["applied_revision"] == r["desired_revision"] and not r["last_error"] for r in rows
    )


def machine_ipv4(api: Api, name: str) -> str:
    """The machine's first IPv4 address (from the API)."""
    row = call(api, "GET", f"/v1/machines/{name}")
    return next(str(ip) for ip in row.get("ips", []) if ipaddress.ip_address(ip).version == 4)


def pings(state: LabState, src: str, src_ip: str, dst_ip: str) -> bool:
    """One ICMP echo from machine `src` (from its own address) to `dst_ip`, answered within 1 s."""
    from lab.fabric_lab import exec_in

    return exec_in(state.name, src, ["ping", "-c1", "-W1", "-I", src_ip, dst_ip], timeout=10).ok


def ping_matrix(state: LabState, ips: dict[str, str]) -> dict[tuple[str, str], bool]:
    """Reachability between every ordered pair of machines in `ips` (name → IPv4), by real pings."""
    return {(a, b): pings(state, a, ips[a], ips[b]) for a, b in itertools.permutations(sorted(ips), 2)}


def same_tenant_pairs(ips: dict[str, str], tenant: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """Ordered pairs of machines in one tenant (those that must reach each other)."""
    return [(a, b) for a, b in itertools.permutations(sorted(ips), 2) if tenant(a) == tenant(b)]


def bgp_sessions(state: LabState, node: str) -> dict[str, str]:
    """`vrf/peer` → state of every BGP session of a node (its own FRR, every VRF)."""
    from lab.fabric_lab import exec_in

    result = exec_in(state.name, node, ["vtysh", "-c", "show bgp vrf all summary json"], timeout=15)
    try:
        data = json.loads(result.stdout) if result.ok else {}
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for vrf, families in data.items():
        for family in families.values() if isinstance(families, dict) else ():
            for peer, info in (family.get("peers") or {}).items() if isinstance(family, dict) else ():
                out.setdefault(f"{vrf}/{peer}", info.get("state", "?"))
    return out


@dataclass
class NorthSouth:
    """What the north-south part of the demo saw: each flow, and the live policy flip."""

    firewall: str
    firewall_ips: list[str]
    balanced: str  # the load-balancer IP of Service shop/web
    outcomes: list[Outcome]
    flipped: Flow
    flip_seconds: float
    status: dict[str, Any]


@dataclass
class DemoReport:
    """What `run_demo` observed: allocations, the fleet view, BGP sessions, the ping matrix, and
    north-south through the firewall (None when the firewall is not a VM)."""

    allocations: dict[str, dict[str, Any]]
    fleet: list[dict[str, Any]]
    bgp: dict[str, dict[str, str]]
    ips: dict[str, str]
    tenants: dict[str, str]
    matrix: dict[tuple[str, str], bool]
    notes: list[str]
    north_south: NorthSouth | None = None


def firewall_ready(api: Api, name: str) -> dict[str, Any] | None:
    """The firewall's status once it applied its desired revision and BGP to every leaf is up."""
    row = next((r for r in fleet(api) if r["kind"] == "firewall" and r["name"] == name), None)
    if row is None or row["applied_revision"] != row["desired_revision"] or row["last_error"]:
        return None
    status = dict(call(api, "GET", f"/v1/firewalls/{name}/status"))
    sessions = status.get("bgp") or []
    if not sessions or any(s.get("state") != "Established" for s in sessions):
        return None
    return status


def run_north_south(state: LabState, step: Callable[[str], None], *, timeout: float = 300.0) -> NorthSouth:
    """fw01 gets its own internet address, alpha a load-balancer IP that m1 announces, the cluster its
    Pod, policy and Service; every flow is tried with real packets, then the policy changes live and
    the newly allowed flow is timed."""
    api = lab_api(state)
    firewall = next(a for a in ALLOCATIONS if a.kind == "firewall")
    machine = next(a for a in ALLOCATIONS if a.kind == "machine" and ALPHA in a.networks)
    step(f"{firewall.name}: its own internet address, {machine.name}: a load-balancer IP (the IP API)")
    own = call(api, "POST", "/v1/ips", {"network": "internet", "firewall": firewall.name})["address"]
    balanced = call(api, "POST", "/v1/ips", {"network": "internet", "project": machine.project})["address"]
    speak(agent_config(state, machine.name), [balanced])
    machine_ips = list(call(api, "GET", f"/v1/machines/{machine.name}")["ips"])
    north_south.start_servers(state, INTERNET_HOST, north_south.SERVER_PORTS)
    north_south.start_servers(state, machine.name, north_south.SERVICE_PORTS)
    north_south.apply_cluster(state, north_south.cluster(machine_ips, balanced))
    step(f"{firewall.name} (qemu, the firewall image) applying it; BGP to both leaves")
    ready = functools.partial(firewall_ready, api, firewall.name)
    status = wait_until(ready, timeout=timeout, interval=2.0, what=f"{firewall.name} ready")
    flows = north_south.flows(machine.name, machine_ips, [own]) + north_south.ingress_flows(balanced)
    for flow in (f for f in flows if f.allowed):  # the routes of each family converged
        wait_until(functools.partial(north_south.passes, state, flow), timeout=timeout, what=flow.name)
    step("north-south flows with real packets")
    outcomes = [north_south.attempt(state, flow) for flow in flows]
    step("a NetworkPolicy change applied live")
    denied = next(f for f in flows if not f.allowed)
    seconds = north_south.flip(state, denied, (north_south.ALLOWED_PORT, north_south.DENIED_PORT))
    north_south.apply_cluster(state, [north_south.egress_policy((north_south.ALLOWED_PORT,))])
    return NorthSouth(firewall.name, [own], balanced, outcomes, denied, seconds, status or {})


def run_demo(
    state: LabState, directory: Path, step: Callable[[str], None], *, timeout: float = 120.0
) -> DemoReport:
    """Apply the demo intent to a running lab and wait until it has converged (see module doc).

    `step(text)` is told what is being waited for (the CLI shows it as progress).
    """
    api = lab_api(state)
    step("declaring tenants and allocating (waits for cabling learned from LLDP)")
    allocations = apply_demo(state, directory)
    step("switch daemons applying the new revisions")
    wait_until(lambda: switches_converged(api), timeout=timeout, interval=0.5, what="switches applied")
    machines = [a for a in ALLOCATIONS if a.kind == "machine"]
    ips = {a.name: machine_ipv4(api, a.name) for a in machines}
    tenants = {a.name: a.project or "" for a in machines}
    step("tenant machines reaching each other over the fabric")
    for a, b in same_tenant_pairs(ips, tenants.get):
        wait_until(functools.partial(pings, state, a, ips[a], ips[b]), timeout=timeout, what=f"{a} -> {b}")
    step("measuring the ping matrix")
    matrix = ping_matrix(state, ips)
    vms = [r for r in state.nodes.values() if r.role == "firewall" and r.ssh]
    through = run_north_south(state, step) if vms else None
    switches = sorted(n for n, r in state.nodes.items() if r.role in ("spine", "leaf"))
    return DemoReport(
        allocations=allocations,
        fleet=fleet(api),
        bgp={n: bgp_sessions(state, n) for n in switches},
        ips=ips,
        tenants=tenants,
        matrix=matrix,
        notes=[STAND_INS],
        north_south=through,
    )
