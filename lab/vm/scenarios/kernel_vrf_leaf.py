"""Guest scenario: a leaf with kernel VRF devices and machines peering into them over BGP unnumbered.

Runs *inside* a `KernelVm` (`vm.run_scenario(SCENARIO, files={"spec.json": ..., <frr files>})`).
It builds, with lab.rig, one namespace per node; on the leaf one kernel VRF device per tenant VRF
(``ip link add VrfN type vrf table T``) with its ports enslaved — the stand-in for SONiC's vrfmgrd /
intfmgrd — then starts FRR (zebra, bgpd) on every node with the frr.conf files it was given (the
production rendering: no ``netns`` line), waits until the expected routes are installed, pings, and
emits everything observed as one JSON document.  With a ``removal`` entry it also builds that VRF's
L3VNI devices and then removes the VRF the way a switch does (`lab.vm.scenarios.vrf_removal`), on the
same boot.  It asserts nothing itself: the host test does.

spec.json::

    {"leaf": {"node": "leaf", "hostname": "leaf01", "frr": "leaf.conf",
              "vrfs": [{"name": "Vrf100010", "table": 1001}],
              "ports": [{"name": "Ethernet0", "vrf": "Vrf100010"}]},
     "machines": [{"node": "m1", "hostname": "m-alpha-1", "frr": "m1.conf", "nic": "lan0",
                   "leaf_port": "Ethernet0", "addresses": ["10.10.0.5/32", "2001:db8:10::5/128"]}],
     "expect": {"Vrf100010": ["10.10.0.5/32", "2001:db8:10::5/128"]},
     "pings": [{"from": "m1", "source": "10.10.0.5", "to": "10.10.0.6"}],
     "kernel_tables": {"main": "main", "Vrf100010": "1001"},
     "timeout": 60,
     "removal": {...}}   (optional, see lab.vm.scenarios.vrf_removal)
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab.rig import FrrInstance, Netns, Rig, veth
from lab.vm.result import emit
from lab.vm.scenarios import settle
from lab.vm.scenarios.vrf_removal import build_l3vni, build_port, remove_vrf

DAEMONS = ("zebra", "bgpd")
FRR_START_TIMEOUT = 60.0  # daemons under software emulation start several times slower


def build_leaf(rig: Rig, leaf: dict[str, Any]) -> Netns:
    """The leaf namespace with its VRF devices (SONiC's vrfmgrd would make them from CONFIG_DB)."""
    ns = rig.netns(leaf["node"])
    for vrf in leaf["vrfs"]:
        ns.ip("link", "add", vrf["name"], "type", "vrf", "table", str(vrf["table"]))
        ns.ip("link", "set", vrf["name"], "up")
    return ns


def attach_machine(rig: Rig, leaf_ns: Netns, leaf: dict[str, Any], machine: dict[str, Any]) -> Netns:
    """A machine namespace cabled to its leaf port; the port joins its VRF (intfmgrd's job)."""
    ns = rig.netns(machine["node"])
    veth(leaf_ns, machine["leaf_port"], ns, machine["nic"])
    vrf = next(p["vrf"] for p in leaf["ports"] if p["name"] == machine["leaf_port"])
    leaf_ns.ip("link", "set", machine["leaf_port"], "master", vrf)
    for address in machine["addresses"]:
        ns.ip("addr", "add", address, "dev", "lo")
    return ns


def start_frr(rig: Rig, ns: Netns, hostname: str, conf: str) -> FrrInstance:
    """FRR on `ns` with `conf` (a file of the job), started with an emulation-sized timeout."""
    frr = rig.frr(ns, hostname, daemons=DAEMONS, start=False)
    frr.start(Path(conf).read_text(), timeout=FRR_START_TIMEOUT)
    return frr


def installed(frr: FrrInstance, vrf: str, prefixes: list[str]) -> bool:
    """True when every prefix is in `vrf`'s RIB as selected and installed in the kernel."""
    routes: dict[str, Any] = {}
    for family in ("ip", "ipv6"):
        routes.update(frr.vtysh_json(f"show {family} route vrf {vrf} json"))
    return all(
        any(r.get("selected") and r.get("installed") for r in routes.get(prefix, [])) for prefix in prefixes
    )


def kernel_routes(ns: Netns, table: str) -> dict[str, Any]:
    """`ip -j route show table T` for IPv4 and IPv6, as parsed JSON."""
    out = {}
    for family in ("-4", "-6"):
        result = ns.exec(["ip", "-j", family, "route", "show", "table", table])
        out[family[1:]] = json.loads(result.stdout or "[]")
    return out


def ping(nodes: dict[str, Netns], spec: dict[str, Any]) -> dict[str, Any]:
    """One ping test: up to 5 echo requests, success on any reply."""
    argv = ["ping", "-c", "5", "-i", "0.2", "-w", "10", "-I", spec["source"], spec["to"]]
    result = nodes[spec["from"]].exec(argv, timeout=20)
    return {**spec, "rc": result.rc, "output": result.stdout[-400:] + result.stderr[-200:]}


def _converged(frr: FrrInstance, spec: dict[str, Any]) -> bool:
    return all(installed(frr, vrf, p) for vrf, p in spec["expect"].items())


def main() -> None:
    """Build, start, wait, observe, emit."""
    spec = json.loads(Path("spec.json").read_text())
    leaf, machines = spec["leaf"], spec["machines"]
    removal = spec.get("removal", {})
    times: dict[str, float] = {}
    begin = time.monotonic()
    with Rig() as rig:
        leaf_ns = build_leaf(rig, leaf)
        nodes = {leaf["node"]: leaf_ns}
        for l3vni in removal.get("l3vnis", []):
            build_l3vni(leaf_ns, l3vni)
        for port in removal.get("ports", []):
            build_port(leaf_ns, port)
        for machine in machines:
            nodes[machine["node"]] = attach_machine(rig, leaf_ns, leaf, machine)
        times["build"] = time.monotonic() - begin
        # All nodes at once: starting is mostly waiting for daemons, and emulated time is dear.
        jobs = [(leaf["node"], leaf["hostname"], leaf["frr"])]
        jobs += [(m["node"], m["hostname"], m["frr"]) for m in machines]
        with ThreadPoolExecutor(len(jobs)) as pool:
            frrs = list(pool.map(lambda job: start_frr(rig, nodes[job[0]], job[1], job[2]), jobs))
        leaf_frr = frrs[0]
        times["frr_started"] = time.monotonic() - begin
        converged = settle(lambda: _converged(leaf_frr, spec), spec)
        times["converged"] = time.monotonic() - begin
        observed = {
            "converged": converged,
            "vrf_devices": json.loads(leaf_ns.exec(["ip", "-j", "-d", "link", "show", "type", "vrf"]).stdout),
            "frr_vrfs": leaf_frr.vtysh("show vrf"),  # FRR 8.4 has no JSON form
            "routes": {
                vrf: {
                    "ipv4": leaf_frr.vtysh_json(f"show ip route vrf {vrf} json"),
                    "ipv6": leaf_frr.vtysh_json(f"show ipv6 route vrf {vrf} json"),
                    "bgp": leaf_frr.vtysh_json(f"show bgp vrf {vrf} summary json"),
                }
                for vrf in (v["name"] for v in leaf["vrfs"])
            },
            "kernel": {name: kernel_routes(leaf_ns, table) for name, table in spec["kernel_tables"].items()},
            "pings": [ping(nodes, p) for p in spec["pings"]],
        }
        if removal:
            observed["removal"] = remove_vrf(leaf_ns, leaf_frr, removal, spec)
            observed["removal"]["converged_after"] = settle(lambda: _converged(leaf_frr, spec), spec)
            times["removed"] = time.monotonic() - begin
        times["total"] = time.monotonic() - begin
    emit({**observed, "seconds": times})


if __name__ == "__main__":
    main()
