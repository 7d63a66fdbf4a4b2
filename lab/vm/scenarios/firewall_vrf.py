"""Guest scenario: the firewall with kernel VRFs, route leaking by `import vrf`, nftables and SNAT.

Runs *inside* a `KernelVm` (see tests/integration/vm/test_firewall_vrf.py, which builds the job).
Three namespaces: a tenant host cabled to the firewall's port in the private VRF, the firewall, and an
internet host cabled to its port in the external VRF.  On the firewall, everything the product covers
is done by the product:

- the VRF devices (and their L3VNI bridge/vxlan devices), with the firewall's own addresses
  (`vrfs[].addresses`) on them, by the daemon's `Routing.plumb(state)` (`plan_plumbing` executed by
  `Netlink`), the ports joined to their VRF by `Netlink.ensure_member`;
- FRR (zebra, bgpd, staticd) loaded with `render_firewall_frr(state)` as rendered, followed by the
  job's scenario-only config (routes entering each VRF's BGP table: the stand-in for EVPN type-5
  routes from the leaves; not BGP sessions with the hosts, which the product's input chain rightly
  drops, accepting BGP from the uplinks only);
- the nftables table compiled from the job's manifests and the state (`compile_manifests`, the code
  of `fabric firewall compile --state`) and loaded by `NftTable.apply`.

What the product does not cover is done by hand and listed in the spec: the port addresses (the
external port's address is what masquerade takes), the hosts' addresses and static routes.

Then TCP and UDP servers listen on the hosts (each answers with the peer address it sees, so the
client learns the source after NAT) and every probe of the spec goes through the firewall, all at
once.  With `then`, a second state's ruleset is compiled and applied over the first (same boot, same
FRR and devices) and its probes run.  `announced` lists prefixes bgpd must originate (the own
addresses' `network` lines) before probing.  The scenario asserts nothing: it emits what it saw as
JSON and the host test asserts.

spec.json::

    {"state": "state.json", "manifests": ["k8s/a.yaml"], "isolation": "boundary",
     "frr": ["firewall.conf", "scenario.conf"],
     "ports": [{"name": "tn0", "vrf": "Vrf100010", "host": "tenant", "host_nic": "eth0",
                "addresses": ["10.10.0.1/24"]}],
     "hosts": {"tenant": {"addresses": [["eth0", "10.10.0.5/24"]], "routes": [["default", "10.10.0.1"]]}},
     "servers": [{"node": "internet", "address": "198.51.100.80", "port": 80, "proto": "udp"}],
     "probes": [{"name": "egress-80-v4", "from": "tenant", "to": "198.51.100.80", "port": 80},
                {"name": "egress-ula", "from": "tenant", "source": "fd00:10:244::5",
                 "to": "2001:db8:beef::80", "port": 80}],
     "then": {"state": "masquerade.json", "probes": [...]},
     "expect": {"Vrf100010": ["0.0.0.0/0"]},
     "announced": {"Vrf104009": ["203.0.113.9/32"]},
     "kernel_tables": {"Vrf100010": "100010"},
     "timeout": 60}
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fabric.adapters.process import run
from lab.rig import FrrInstance, Netns, Rig, veth
from lab.vm.result import emit
from lab.vm.scenarios import settle

if TYPE_CHECKING:
    from fabric.adapters.nft import NftTable
    from fabric.model import FirewallState

# Imported in a thread while the namespaces are built: importing them costs ~15 s under emulation.
PRODUCT_MODULES = (
    "fabric.adapters.netlink",
    "fabric.adapters.nft",
    "fabric.core.plumbing",
    "fabric.firewall.pipeline",
    "fabric.firewall.routing",
    "fabric.model",
)

# Kernel modules the plumbing and the ruleset need.  Loaded on demand, nf_tables asks for each one in
# turn and replays the whole transaction after every load; one `modprobe -a` at the start, beside
# Python's imports, saves most of that (measured: loading the ruleset took 27-45 s without it).
MODULES = (
    "bridge",
    "vxlan",
    "nf_tables",
    "nf_conntrack",
    "nf_nat",
    "nft_chain_nat",
    "nft_ct",
    "nft_limit",
    "nft_log",
    "nf_log_syslog",
    "nft_masq",
    "nft_objref",
)
DAEMONS = ("zebra", "bgpd", "staticd")
FRR_START_TIMEOUT = 60.0  # daemons under software emulation start several times slower
CONNECT_TIMEOUT = 3.0  # a dropped SYN is retried after 1 s: two SYNs, then "denied"
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
    """Accept TCP connections on address:port; answer each with the peer address it came from."""
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


def serve_udp(address: str, port: int, ready: threading.Event, stop: threading.Event) -> None:
    """Answer each UDP datagram to address:port with the peer address it came from (bound to the
    address, the answer leaves from it: conntrack sees the reply of the same flow)."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        sock.settimeout(0.2)
        ready.set()
        while not stop.is_set():
            try:
                _, peer = sock.recvfrom(64)
            except TimeoutError:
                continue
            sock.sendto(f"{peer[0]}\n".encode(), peer)


def probe(to: str, port: int, proto: str = "tcp", source: str | None = None) -> dict[str, Any]:
    """One TCP connection or UDP exchange (from `source`, else the address the route picks): did it go
    through, which source did the server see."""
    begin = time.monotonic()
    try:
        if proto == "udp":
            with socket.socket(_family(to), socket.SOCK_DGRAM) as sock:
                sock.settimeout(CONNECT_TIMEOUT)
                if source:
                    sock.bind((source, 0))
                sock.sendto(b"who", (to, port))
                seen = sock.recvfrom(64)[0].decode().strip()
        else:
            bound = (source, 0) if source else None
            with socket.create_connection((to, port), timeout=CONNECT_TIMEOUT, source_address=bound) as conn:
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
    """VRF devices (with the firewall's own addresses on them) by the daemon's `Routing.plumb`; the
    scenario's ports into their VRFs by the netlink adapter, then addressed.

    Addresses on ports come after enslaving: joining a VRF cycles the port, which drops its IPv6
    addresses.  The VRF devices are not cycled, so their addresses stay.
    """
    from fabric.adapters.netlink import Netlink
    from fabric.core.plumbing import plan_plumbing
    from fabric.firewall.routing import Routing

    with Netlink(fw.name) as netlink:
        plan = plan_plumbing(state, netlink.links())
    removals = Routing(None, netns=fw.name).plumb(state)
    with Netlink(fw.name) as netlink:
        for port in spec["ports"]:
            netlink.ensure_member(port["name"], port["vrf"])
        again = plan_plumbing(state, netlink.links())
    for port in spec["ports"]:
        for address in port["addresses"]:
            fw.ip("addr", "add", address, "dev", port["name"])
    return [repr(a) for a in plan] + [f"removals: {removals}", f"then in sync: {not again}"]


def start_frr(rig: Rig, fw: Netns, hostname: str, files: list[str]) -> FrrInstance:
    """FRR on the firewall with the rendered config followed by the scenario-only one."""
    frr = rig.frr(fw, hostname, daemons=DAEMONS, start=False)
    frr.start("".join(Path(name).read_text() for name in files), timeout=FRR_START_TIMEOUT)
    return frr


def vtysh_jsons(frr: FrrInstance, commands: list[str]) -> list[Any]:
    """Several `show ... json` commands in one vtysh call (each call is a process start, which costs
    most of a second under emulation); their documents are printed back to back."""
    text, at = frr.vtysh(*commands), 0
    documents: list[Any] = []
    decoder = json.JSONDecoder()
    while len(documents) < len(commands):
        while text[at].isspace():
            at += 1
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def installed(frr: FrrInstance, expect: dict[str, list[str]]) -> bool:
    """True when every expected prefix is in its VRF's RIB as selected and installed in the kernel."""
    vrfs = list(expect)
    tables = vtysh_jsons(frr, [f"show {f} route vrf {vrf} json" for vrf in vrfs for f in ("ip", "ipv6")])
    for i, vrf in enumerate(vrfs):
        routes = {**tables[2 * i], **tables[2 * i + 1]}
        for prefix in expect[vrf]:
            if not any(r.get("selected") and r.get("installed") for r in routes.get(prefix, [])):
                return False
    return True


def vrf_routes(frr: FrrInstance, expect: dict[str, list[str]]) -> dict[str, Any]:
    """Per VRF: zebra's routes and bgpd's detail of each expected prefix (paths, communities)."""
    commands = []
    for vrf, prefixes in expect.items():
        commands += [f"show ip route vrf {vrf} json", f"show ipv6 route vrf {vrf} json"]
        commands += [
            f"show bgp vrf {vrf} {'ipv6' if ':' in p else 'ipv4'} unicast {p} json" for p in prefixes
        ]
    documents = iter(vtysh_jsons(frr, commands))
    return {
        vrf: {"ipv4": next(documents), "ipv6": next(documents), "bgp": {p: next(documents) for p in prefixes}}
        for vrf, prefixes in expect.items()
    }


def kernel_routes(ns: Netns, tables: dict[str, str]) -> dict[str, dict[str, list[Any]]]:
    """Per named table, `ip -j route` for IPv4 and IPv6 (two `ip` calls for all tables)."""
    names = {table: name for name, table in tables.items()}
    out: dict[str, dict[str, list[Any]]] = {name: {"4": [], "6": []} for name in tables}
    for family in ("4", "6"):
        result = ns.exec(["ip", "-j", f"-{family}", "route", "show", "table", "all"])
        for route in json.loads(result.stdout or "[]"):
            name = names.get(str(route.get("table", "main")))
            if name is not None:
                out[name][family].append(route)
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
        fn = serve_udp if server.get("proto") == "udp" else serve
        in_netns(
            nodes[server["node"]], partial(fn, server["address"], server["port"], ready, stop), wait=False
        )
    for server, ready in readies:
        if not ready.wait(30):
            raise RuntimeError(f"server {server} did not start listening")


def run_probes(nodes: dict[str, Netns], probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All probes at once (a denied one waits out its timeout; in parallel that is paid once)."""
    futures = [
        (
            p,
            in_netns(
                nodes[p["from"]],
                partial(probe, p["to"], p["port"], p.get("proto", "tcp"), p.get("source")),
                wait=False,
            ),
        )
        for p in probes
    ]
    return [{**p, **future.result(timeout=60)} for p, future in futures]


def announced(frr: FrrInstance, prefixes: dict[str, list[str]]) -> dict[str, Any]:
    """Per VRF and prefix, bgpd's table entry (the firewall's own addresses, `network A/32`)."""
    commands = [
        f"show bgp vrf {vrf} {'ipv6' if ':' in p else 'ipv4'} unicast {p} json"
        for vrf, ps in prefixes.items()
        for p in ps
    ]
    documents = iter(vtysh_jsons(frr, commands))
    return {vrf: {p: next(documents) for p in ps} for vrf, ps in prefixes.items()}


def originated(frr: FrrInstance, prefixes: dict[str, list[str]]) -> bool:
    """True when bgpd has a valid best path for every announced prefix."""
    tables = announced(frr, prefixes)
    return all(
        any(path.get("valid") and path.get("bestpath", {}).get("overall") for path in entry.get("paths", []))
        for entries in tables.values()
        for entry in entries.values()
    )


def second_step(fw: Netns, nodes: dict[str, Netns], table: NftTable, spec: dict[str, Any]) -> dict[str, Any]:
    """The same firewall with a second state (`spec["then"]`): its ruleset compiled and applied over
    the first by the same adapter, then its probes."""
    from fabric.firewall.pipeline import compile_manifests

    then = spec["then"]
    manifests = [Path(m) for m in spec["manifests"]]
    _, ruleset = compile_manifests(manifests, [], spec.get("isolation", "boundary"), Path(then["state"]))
    applied = table.apply(ruleset)
    postrouting = fw.exec(["nft", "list", "chain", "inet", "fabric", "postrouting"]).stdout
    return {"mode": applied.mode, "postrouting": postrouting, "probes": run_probes(nodes, then["probes"])}


def main() -> None:
    """Build, plumb, start FRR, load nftables, wait for the leaked routes, connect, emit."""
    times: dict[str, float] = {"python_started": _process_age()}
    begin = time.monotonic()
    modules = threading.Thread(target=lambda: run(["modprobe", "-a", *MODULES], timeout=120), daemon=True)
    modules.start()
    product: Future[None] = Future()
    threading.Thread(target=lambda: _complete(product, _import_product), daemon=True).start()
    spec = json.loads(Path("spec.json").read_text())
    stop = threading.Event()
    with Rig() as rig:
        nodes = build(rig, spec)
        fw = nodes["fw"]
        times["built"] = time.monotonic() - begin
        product.result(timeout=120)
        modules.join(timeout=120)
        times["product_imported"] = time.monotonic() - begin
        from fabric.adapters.nft import NftTable
        from fabric.firewall.pipeline import compile_manifests
        from fabric.model import FirewallState, load_file

        state = load_file(FirewallState, Path(spec["state"]))
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
        times["nft_compiled"] = time.monotonic() - begin
        table = NftTable(["ip", "netns", "exec", fw.name])
        applied = table.apply(ruleset)
        times["nft_loaded"] = time.monotonic() - begin
        start_servers(nodes, spec["servers"], stop)
        frr = frr_future.result(timeout=FRR_START_TIMEOUT + 30)
        times["frr_started"] = time.monotonic() - begin
        own = spec.get("announced", {})
        converged = settle(lambda: installed(frr, spec["expect"]) and originated(frr, own), spec)
        times["converged"] = time.monotonic() - begin
        probes = run_probes(nodes, spec["probes"]) if converged else []
        times["probed"] = time.monotonic() - begin
        nft = {
            "mode": applied.mode,
            "conditions": [(c.object, c.accepted, c.reason) for c in compiled.conditions],
            "counters": table.counters(),
            "rules": rule_counters(fw),
            "postrouting": fw.exec(["nft", "list", "chain", "inet", "fabric", "postrouting"]).stdout,
        }
        then = second_step(fw, nodes, table, spec) if converged and "then" in spec else None
        times["then_probed"] = time.monotonic() - begin
        stop.set()
        observed = {
            "converged": converged,
            "plumbing": plan,
            "links": json.loads(fw.exec(["ip", "-j", "-d", "link", "show"]).stdout),
            "addresses": json.loads(fw.exec(["ip", "-j", "addr", "show"]).stdout),
            "routes": vrf_routes(frr, spec["expect"]),
            "announced": announced(frr, own),
            "running_config": frr.vtysh("show running-config"),
            "kernel": kernel_routes(fw, spec["kernel_tables"]),
            "modules": sorted(line.split()[0] for line in Path("/proc/modules").read_text().splitlines()),
            "nft": nft,
            "probes": probes,
            "then": then,
        }
        times["observed"] = time.monotonic() - begin
    times["total"] = time.monotonic() - begin  # with the rig's cleanup
    emit({**observed, "seconds": times})


def _import_product() -> None:
    for name in PRODUCT_MODULES:
        importlib.import_module(name)


def _process_age() -> float:
    """Seconds since this process started (Python's start and imports are dear under emulation)."""
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)


def _complete(future: Future[T], fn: Callable[[], T]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:  # handed to the waiting main thread
        future.set_exception(exc)


if __name__ == "__main__":
    main()
