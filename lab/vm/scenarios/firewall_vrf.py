"""Guest scenario: the firewall with kernel VRFs, route leaking by `import vrf`, nftables and SNAT.

Runs *inside* a `KernelVm` (see tests/integration/vm/test_firewall_vrf.py, which builds the job).
Three namespaces: a tenant host cabled to the firewall's port in the private VRF, the firewall, and an
internet host cabled to its port in the external VRF.  On the firewall, everything the product covers
is done by the product:

- the VRF devices (and their L3VNI bridge/vxlan devices) by `Netlink.apply(plan_plumbing(state, ...))`,
  the ports joined to their VRF by `Netlink.ensure_member`;
- FRR (zebra, bgpd, staticd) loaded with `render_firewall_frr(state)` as rendered, followed by the
  job's scenario-only config (routes entering each VRF's BGP table: the stand-in for EVPN type-5
  routes from the leaves);
- the nftables table compiled from the job's manifests and the state (`compile_manifests`, the code
  of `fabric firewall compile --state`) and loaded by `NftTable.apply`.

What the product does not cover is done by hand and listed in the spec: the port addresses (the
firewall's external address is what masquerade takes), the hosts' addresses and static routes.

Then TCP servers listen on the hosts (each answers with the peer address it sees, so the client
learns the source after NAT) and every probe of the spec connects through the firewall, all at once.
The scenario asserts nothing: it emits what it saw as JSON and the host test asserts.

spec.json::

    {"state": "state.json", "manifests": ["k8s/a.yaml"], "isolation": "boundary",
     "frr": ["firewall.conf", "scenario.conf"],
     "ports": [{"name": "tn0", "vrf": "Vrf100010", "host": "tenant", "host_nic": "eth0",
                "addresses": ["10.10.0.1/24"]}],
     "hosts": {"tenant": {"addresses": [["eth0", "10.10.0.5/24"]], "routes": [["default", "10.10.0.1"]]}},
     "servers": [{"node": "internet", "address": "198.51.100.80", "port": 80}],
     "probes": [{"name": "egress-80-v4", "from": "tenant", "to": "198.51.100.80", "port": 80}],
     "expect": {"Vrf100010": ["0.0.0.0/0"]},
     "kernel_tables": {"Vrf100010": "100010"},
     "timeout": 60}
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from fabric.adapters.netlink import Netlink
from fabric.adapters.nft import NftTable
from fabric.core.plumbing import plan_plumbing
from fabric.firewall.pipeline import compile_manifests
from fabric.model import FirewallState, load_file
from lab.rig import FrrInstance, Netns, Rig, veth, wait_until
from lab.vm.result import emit

DAEMONS = ("zebra", "bgpd", "staticd")
FRR_START_TIMEOUT = 60.0  # daemons under software emulation start several times slower
CONNECT_TIMEOUT = 4.0  # a dropped SYN is retried after 1 s and 3 s: two retries, then "denied"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: Netns, fn: Callable[[], T], *, wait: bool = True) -> Future[T]:
    """Run `fn` in a new thread that first enters `ns` (setns moves only the calling thread).

    Sockets made there stay in `ns`; this saves starting a Python process per server and client,
    which costs seconds under emulation.  With `wait`, the thread is joined before returning.
    """
    future: Future[T] = Future()

    def target() -> None:
        fd = os.open(ns.path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {ns.name}")
        finally:
            os.close(fd)
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)

    thread = threading.Thread(target=target, daemon=True, name=f"netns-{ns.node}")
    thread.start()
    if wait:
        thread.join()
    return future


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def serve(address: str, port: int, ready: threading.Event, stop: threading.Event) -> None:
    """Accept connections on address:port; answer each with the peer address it came from."""
    with socket.socket(_family(address), socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(16)
        listener.settimeout(0.2)
        ready.set()
        while not stop.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(f"{peer[0]}\n".encode())


def probe(to: str, port: int) -> dict[str, Any]:
    """One TCP connection: did it open, and which source address did the server see."""
    begin = time.monotonic()
    try:
        with socket.create_connection((to, port), timeout=CONNECT_TIMEOUT) as conn:
            seen = conn.makefile().readline().strip()
        return {"connected": True, "seen_source": seen, "seconds": round(time.monotonic() - begin, 2)}
    except OSError as exc:
        return {
            "connected": False,
            "error": f"{type(exc).__name__}: {exc}",
            "seconds": time.monotonic() - begin,
        }


def build(rig: Rig, spec: dict[str, Any]) -> dict[str, Netns]:
    """The namespaces and cables; the hosts' addresses and routes (by hand: no product covers hosts)."""
    nodes = {"fw": rig.netns("fw")}
    for name in spec["hosts"]:
        nodes[name] = rig.netns(name)
    for port in spec["ports"]:
        veth(nodes["fw"], port["name"], nodes[port["host"]], port["host_nic"])
    for name, host in spec["hosts"].items():
        for dev, address in host["addresses"]:
            nodes[name].ip("addr", "add", address, "dev", dev)
        for dst, via in host["routes"]:
            family = "-6" if ":" in via else "-4"
            nodes[name].ip(family, "route", "add", dst, "via", via)
    return nodes


def plumb(fw: Netns, state: FirewallState, spec: dict[str, Any]) -> list[str]:
    """VRF devices by the product's plan and netlink adapter; ports into their VRFs, then addressed.

    Addresses come after enslaving: joining a VRF cycles the port, which drops its IPv6 addresses.
    """
    with Netlink(fw.name) as netlink:
        plan = plan_plumbing(state, netlink.links())
        netlink.apply(plan)
        for port in spec["ports"]:
            netlink.ensure_member(port["name"], port["vrf"])
        again = plan_plumbing(state, netlink.links())
    for port in spec["ports"]:
        for address in port["addresses"]:
            fw.ip("addr", "add", address, "dev", port["name"])
    return [repr(a) for a in plan] + [f"then in sync: {not again}"]


def start_frr(rig: Rig, fw: Netns, hostname: str, files: list[str]) -> FrrInstance:
    """FRR on the firewall with the rendered config followed by the scenario-only one."""
    frr = rig.frr(fw, hostname, daemons=DAEMONS, start=False)
    frr.start("".join(Path(name).read_text() for name in files), timeout=FRR_START_TIMEOUT)
    return frr


def installed(frr: FrrInstance, vrf: str, prefixes: list[str]) -> bool:
    """True when every prefix is in `vrf`'s RIB as selected and installed in the kernel."""
    routes: dict[str, Any] = {}
    for family in ("ip", "ipv6"):
        routes.update(frr.vtysh_json(f"show {family} route vrf {vrf} json"))
    return all(
        any(r.get("selected") and r.get("installed") for r in routes.get(prefix, [])) for prefix in prefixes
    )


def vrf_routes(frr: FrrInstance, vrf: str, prefixes: list[str]) -> dict[str, Any]:
    """zebra's routes of `vrf` and bgpd's detail of each expected prefix (paths, communities)."""
    out: dict[str, Any] = {
        "ipv4": frr.vtysh_json(f"show ip route vrf {vrf} json"),
        "ipv6": frr.vtysh_json(f"show ipv6 route vrf {vrf} json"),
        "bgp": {},
    }
    for prefix in prefixes:
        afi = "ipv6" if ":" in prefix else "ipv4"
        out["bgp"][prefix] = frr.vtysh_json(f"show bgp vrf {vrf} {afi} unicast {prefix} json")
    return out


def kernel_routes(ns: Netns, table: str) -> dict[str, Any]:
    """`ip -j route show table T` for IPv4 and IPv6, as parsed JSON."""
    out = {}
    for family in ("-4", "-6"):
        result = ns.exec(["ip", "-j", family, "route", "show", "table", table])
        out[family[1:]] = json.loads(result.stdout or "[]")
    return out


def rule_counters(fw: Netns) -> list[dict[str, Any]]:
    """Every rule of our table that has a counter: its chain, comment and packets."""
    listing = json.loads(fw.exec(["nft", "-j", "list", "table", "inet", "fabric"]).stdout)
    out = []
    for item in listing.get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        for expr in rule["expr"]:
            if "counter" in expr and isinstance(expr["counter"], dict):
                out.append(
                    {
                        "chain": rule["chain"],
                        "comment": rule.get("comment", ""),
                        "packets": expr["counter"]["packets"],
                    }
                )
    return out


def start_servers(nodes: dict[str, Netns], servers: list[dict[str, Any]], stop: threading.Event) -> None:
    """One listener thread per server entry, in its node's namespace; returns once all listen."""
    readies = []
    for server in servers:
        ready = threading.Event()
        readies.append((server, ready))
        in_netns(
            nodes[server["node"]],
            lambda s=server, r=ready: serve(s["address"], s["port"], r, stop),
            wait=False,
        )
    for server, ready in readies:
        if not ready.wait(30):
            raise RuntimeError(f"server {server} did not start listening")


def run_probes(nodes: dict[str, Netns], probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All probes at once (a denied one waits out its timeout; in parallel that is paid once)."""
    futures = [
        (p, in_netns(nodes[p["from"]], lambda p=p: probe(p["to"], p["port"]), wait=False)) for p in probes
    ]
    return [{**p, **future.result(timeout=60)} for p, future in futures]


def main() -> None:
    """Build, plumb, start FRR, load nftables, wait for the leaked routes, connect, emit."""
    spec = json.loads(Path("spec.json").read_text())
    state = load_file(FirewallState, Path(spec["state"]))
    times: dict[str, float] = {}
    begin = time.monotonic()
    stop = threading.Event()
    with Rig() as rig:
        nodes = build(rig, spec)
        fw = nodes["fw"]
        plan = plumb(fw, state, spec)
        times["plumbed"] = time.monotonic() - begin
        # FRR starts in its own thread while the ruleset is compiled and loaded, and servers start.
        frr_future: Future[FrrInstance] = Future()
        threading.Thread(
            target=lambda: _complete(
                frr_future, lambda: start_frr(rig, fw, state.firewall.name, spec["frr"])
            ),
            daemon=True,
        ).start()
        manifests = [Path(m) for m in spec["manifests"]]
        compiled, ruleset = compile_manifests(
            manifests, [], spec.get("isolation", "boundary"), Path(spec["state"])
        )
        table = NftTable(["ip", "netns", "exec", fw.name])
        applied = table.apply(ruleset)
        times["nft_loaded"] = time.monotonic() - begin
        start_servers(nodes, spec["servers"], stop)
        frr = frr_future.result(timeout=FRR_START_TIMEOUT + 30)
        times["frr_started"] = time.monotonic() - begin
        try:
            wait_until(
                lambda: all(installed(frr, vrf, p) for vrf, p in spec["expect"].items()),
                timeout=float(spec.get("timeout", 60)),
                interval=0.5,
                what="expected routes installed",
            )
            converged = True
        except AssertionError:
            converged = False
        times["converged"] = time.monotonic() - begin
        probes = run_probes(nodes, spec["probes"]) if converged else []
        times["probed"] = time.monotonic() - begin
        stop.set()
        observed = {
            "converged": converged,
            "plumbing": plan,
            "vrf_devices": json.loads(fw.exec(["ip", "-j", "-d", "link", "show", "type", "vrf"]).stdout),
            "ports": json.loads(fw.exec(["ip", "-j", "-d", "link", "show"]).stdout),
            "routes": {vrf: vrf_routes(frr, vrf, prefixes) for vrf, prefixes in spec["expect"].items()},
            "kernel": {name: kernel_routes(fw, t) for name, t in spec["kernel_tables"].items()},
            "nft": {
                "mode": applied.mode,
                "conditions": [(c.object, c.accepted, c.reason) for c in compiled.conditions],
                "counters": table.counters(),
                "rules": rule_counters(fw),
            },
            "probes": probes,
        }
        times["total"] = time.monotonic() - begin
    emit({**observed, "seconds": times})


def _complete(future: Future[T], fn: Callable[[], T]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:  # handed to the waiting main thread
        future.set_exception(exc)


if __name__ == "__main__":
    main()
