"""`fabric lab up/down/status/exec`: a containerlab topology on one machine, in network namespaces.

`up(FILE)` builds, in this order, everything recorded in a ledger under ``/run/fabric-lab/lab.<name>/``:
one namespace per node, a veth per link (SONiC port names inside switches, the file's names on linux
nodes), per switch a Redis as CONFIG_DB/APPL_DB/STATE_DB seeded with the base config plus a
`database_config.json`, FRR with the underlay config (leaves: the netns VRF backend with a private
namespace directory), lldpd on every node, and per switch the SONiC stand-in (`python -m lab.sonic`).
`down(NAME)` removes exactly what the ledger lists, from any process.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from fabric.adapters.process import Result, run, run_checked
from fabric.errors import FabricError
from lab import exit_router, firewall_vm
from lab.addressing import ExitIdentity, SwitchIdentity, exit_identities, switch_identities
from lab.control import lab_api, start_control
from lab.intent import HOST_ROLES, INTERNET_VNI, exit_ports, host_nics, hosts, vrf_names
from lab.rig import Netns, Rig, list_netns, procs, veth
from lab.rig.daemon import Daemon, start_daemon, wrap
from lab.rig.netns import ROUTER_SYSCTLS, NetnsDir
from lab.rig.run import Ledger
from lab.sonic.base_config import CONFIG_DB, base_config, database_config_json, redis_keys
from lab.state import LAB_ROOT, LabError, LabState, NodeRecord, lab_prefix
from lab.topology import Topology, load_topology

ROUTERS = ("spine", "leaf", "firewall", "exit")
# lldpd: LLDPDUs every second (the default 30 s would make cabling take half a minute to learn).  Port
# IDs: interface names on switches (what SONiC's lldpd announces), the NIC's MAC on servers (what a
# server's lldpd announces by default, and what the API matches against the machine's declared NICs).
LLDPD_CONF = "configure lldp tx-interval 1\nconfigure lldp portidsubtype {subtype}\n"
KEYSPACE_EVENTS = "KA"  # the stand-in consumes CONFIG_DB through keyspace notifications


def up(
    path: str | Path, *, firewall_vms: bool = True, progress: Callable[[str], None] = lambda _line: None
) -> LabState:
    """Bring the topology in `path` up; `LabError` when a lab of that name (or its leftovers) exists.

    `firewall_vms`: firewall nodes boot the firewall machine image in qemu (`lab.firewall_vm`; the
    image is built first when the cache lacks it, `progress` hears how); without, a firewall node is
    a namespace with its NICs and lldpd only (its leaves' side is all there is of it).  On any
    failure everything built so far is removed again: nothing is half-up.
    """
    topology = load_topology(path)
    prefix = lab_prefix(topology.name)
    _refuse_leftovers(topology.name, prefix)
    vms = topology.with_role("firewall") if firewall_vms else []
    image = firewall_vm.firewall_image(progress) if vms else None
    rig = Rig(root=LAB_ROOT, prefix=prefix)
    try:
        state = LabState(topology.name, str(Path(path).resolve()), prefix)
        _build(rig, topology, state, vms)
        for node in vms:
            assert image is not None
            firewall_vm.boot(rig, topology, state, node, api=lab_api(state), image=image)
        state.save()
    except BaseException:
        rig.close()
        raise
    return state


def down(name: str) -> list[str]:
    """Remove everything lab `name` created (from its ledger); returns what was removed."""
    directory = LAB_ROOT / lab_prefix(name)
    try:
        ledger = Ledger.load(directory)
    except FileNotFoundError:
        if directory.exists():  # killed between mkdir and the first ledger write: nothing was made
            directory.rmdir()
            return []
        raise LabError(f"no lab named {name!r} (no {directory})") from None
    return ledger.clean()


def _refuse_leftovers(name: str, prefix: str) -> None:
    directory = LAB_ROOT / prefix
    if directory.exists():
        raise LabError(f"lab {name} exists already ({directory}); remove it with `fabric lab down {name}`")
    stray = [n for n in list_netns() if n.startswith(prefix + "-")]
    if stray:
        raise LabError(f"namespaces of lab {name} exist without a ledger: {', '.join(stray)}")


def _build(rig: Rig, topology: Topology, state: LabState, vms: list[str]) -> None:
    """Everything but the VMs of `vms` (their NICs are plugged in when they start)."""
    identities = switch_identities(topology)
    namespaces = {}
    for node_name, node in topology.nodes.items():
        role = node.labels.role
        if node_name in vms:  # reached over SSH from its management namespace (lab.firewall_vm)
            state.nodes[node_name] = NodeRecord(node_name, role, f"{rig.prefix}-{node_name}mgmt")
            continue
        namespaces[node_name] = rig.netns(node_name, router=role in ROUTERS)
        state.nodes[node_name] = NodeRecord(node_name, role, namespaces[node_name].name)
    # Servers' NICs get the MACs the lab's intent declares (the API matches LLDP on them), set before
    # the link goes up: the IPv6 link-local address (and FRR's RFC 5549 neighbour entry) derive from it.
    macs = {(host, nic): mac for host in hosts(topology) for nic, mac in host_nics(topology, host)}
    for link in topology.links:
        if link.a.node in vms or link.b.node in vms:
            continue
        ends = ((link.a.node, link.a.port), (link.b.node, link.b.port))
        veth(namespaces[ends[0][0]], ends[0][1], namespaces[ends[1][0]], ends[1][1], up=False)
        for node_name, port in ends:
            if (node_name, port) in macs:
                namespaces[node_name].ip("link", "set", "dev", port, "address", macs[node_name, port])
            namespaces[node_name].ip("link", "set", "dev", port, "up")
    conf_dir = rig.tempdir("conf")
    for node_name, identity in identities.items():
        _switch(rig, topology, identity, namespaces[node_name], state.nodes[node_name])
    for node_name, node in topology.nodes.items():
        if node.labels.role == "machine":
            _machine_frr(rig, namespaces[node_name], state.nodes[node_name])
    for node_name, me in exit_identities(topology).items():
        _exit_router(rig, topology, me, namespaces[node_name], state)
    for node_name, ns in namespaces.items():
        _lldpd(rig, ns, state.nodes[node_name], conf_dir, switch=node_name in identities)
    for node_name in identities:
        _standin(rig, state.nodes[node_name], conf_dir)
    start_control(rig, topology, identities, state)


def _switch(rig: Rig, topology: Topology, me: SwitchIdentity, ns: Netns, record: NodeRecord) -> None:
    record.loopback, record.asn = me.loopback, me.asn
    db = rig.redis(f"redis-{me.name}", notify_keyspace_events=KEYSPACE_EVENTS)
    _record_daemon(record, "redis", db.daemon)
    _seed(db.client(CONFIG_DB), redis_keys(base_config(topology, me)))
    record.redis_socket = str(db.socket_path)
    dbconf = db.dir / "database_config.json"
    dbconf.write_text(database_config_json(str(db.socket_path)))
    record.database_config = str(dbconf)
    # The base config's LOOPBACK_INTERFACE, realised as SONiC's intfmgrd does at boot.
    ns.ip("addr", "add", f"{me.loopback}/32", "dev", "lo")
    # FRR starts empty (hostname only): the switch daemon renders and applies all of its config.
    if me.role == "leaf":
        vrf_dir = rig.netns_dir(me.name)
        record.vrf_dir = str(vrf_dir.path)
        _vrf_namespaces(vrf_dir)
        frr = rig.frr(ns, netns_vrf=True, netns_dir=vrf_dir)
    else:
        frr = rig.frr(ns)
    record.frr_dir = str(frr.dir)
    for daemon_name, daemon in frr.daemons.items():
        _record_daemon(record, daemon_name, daemon)


def _exit_router(rig: Rig, topology: Topology, me: ExitIdentity, ns: Netns, state: LabState) -> None:
    """The exit router (lab code, `lab.exit_router`) and the internet host behind it (a node too)."""
    record = state.nodes[me.name]
    record.loopback, record.asn = me.loopback, me.asn
    ports = [own for own, _, _ in exit_ports(topology, me.name)]
    router = exit_router.build(rig, ns, me, ports, INTERNET_VNI)
    record.frr_dir, record.vrf_dir = str(router.frr.dir), str(router.vrf_dir)
    for daemon_name, daemon in router.frr.daemons.items():
        _record_daemon(record, daemon_name, daemon)
    host = exit_router.INTERNET_HOST
    state.nodes[host] = NodeRecord(host, "internet", router.host.name)


def _vrf_namespaces(vrf_dir: NetnsDir) -> None:
    """One VRF namespace per VNI of the lab's range, made before the leaf's FRR starts.

    zebra's netns VRF backend (FRR 8.4) does not survive namespaces created and deleted at runtime: it
    loses parts of a new namespace's netlink dump, and aborts with heap corruption soon after one is
    freed and another made.  So every namespace a tenant VRF can need exists from the start, empty, and
    the SONiC stand-in only moves devices in and out (docs/concepts.md#lab).
    """
    for vrf in vrf_names():
        vrf_dir.add(vrf)
        run_checked(
            ["nsenter", f"--net={vrf_dir.path / vrf}", "sysctl", "-q", "-w", *ROUTER_SYSCTLS],
            phase=f"lab:vrf-netns {vrf}",
            timeout=10,
        )


def _machine_frr(rig: Rig, ns: Netns, record: NodeRecord) -> None:
    """FRR on a machine, empty until the machine agent applies its `MachineState`."""
    frr = rig.frr(ns)
    record.frr_dir = str(frr.dir)
    for daemon_name, daemon in frr.daemons.items():
        _record_daemon(record, daemon_name, daemon)


def _seed(client: redis.Redis, keys: dict[str, dict[str, str]]) -> None:
    pipe = client.pipeline(transaction=True)
    for key, fields in keys.items():
        pipe.hset(key, mapping=dict[Any, Any](fields))
    pipe.execute()


def _lldpd(rig: Rig, ns: Netns, record: NodeRecord, conf_dir: Path, *, switch: bool) -> None:
    conf = conf_dir / f"lldpd-{record.name}.conf"
    subtype = "macaddress" if record.role in HOST_ROLES else "ifname"
    conf.write_text(LLDPD_CONF.format(subtype=subtype))
    socket = conf_dir / f"lldpd-{record.name}.socket"
    argv = ["lldpd", "-d", "-u", str(socket), "-O", str(conf)]
    if switch:
        argv += ["-I", "Ethernet*"]
    log_path = conf_dir / f"lldpd-{record.name}.log"
    daemon = ns.start(argv, what=f"lldpd@{record.name}", hostname=record.name, log_path=log_path)
    record.lldp_socket = str(socket)
    _record_daemon(record, "lldpd", daemon)


def _standin(rig: Rig, record: NodeRecord, conf_dir: Path) -> None:
    config = conf_dir / f"sonic-{record.name}.json"
    config.write_text(json.dumps(record.__dict__, indent=1, default=list) + "\n")
    # In the host's mount namespace (not `ip netns exec`): VRF namespaces it binds into the leaf's
    # directory must propagate to that leaf's FRR.
    daemon = start_daemon(
        rig.ledger,
        [sys.executable, "-m", "lab.sonic", str(config)],
        what=f"sonic@{record.name}",
        log_path=conf_dir / f"sonic-{record.name}.log",
    )
    _record_daemon(record, "sonic", daemon)


def _record_daemon(record: NodeRecord, name: str, daemon: Daemon | None) -> None:
    if daemon is None:
        raise FabricError(f"{name}@{record.name} did not start")
    record.daemons[name] = (daemon.pid, daemon.item.start)


# ---- status and exec ------------------------------------------------------------------------------------


def status(name: str) -> dict[str, Any]:
    """Lab `name` as data: every node with its namespace, addresses, daemons (PID, alive) and, for
    switches, the state of each BGP session."""
    state = LabState.load(name)
    nodes = []
    for record in state.nodes.values():
        exists = (Path("/run/netns") / record.netns).exists()
        entry: dict[str, Any] = {
            "name": record.name,
            "role": record.role,
            "netns": record.netns,
            "netns_exists": exists,
            "loopback": record.loopback,
            "asn": record.asn,
            "addresses": _addresses(record.netns) if exists else {},
            "daemons": {
                daemon: {"pid": pid, "alive": procs.alive(pid, start)}
                for daemon, (pid, start) in record.daemons.items()
            },
        }
        if record.frr_dir and exists:
            entry["bgp"] = _bgp_sessions(record)
        nodes.append(entry)
    control = {
        "api_url": state.api_url,
        "api_dir": state.api_dir,
        "daemons": {
            daemon: {"pid": pid, "alive": procs.alive(pid, start)}
            for daemon, (pid, start) in state.daemons.items()
        },
    }
    return {
        "name": state.name,
        "prefix": state.prefix,
        "topology": state.topology_file,
        "control": control,
        "nodes": nodes,
    }


def _addresses(netns: str) -> dict[str, list[str]]:
    result = run(["ip", "-n", netns, "-j", "addr", "show"], timeout=10)
    out: dict[str, list[str]] = {}
    if not result.ok:
        return out
    for link in json.loads(result.stdout or "[]"):
        addrs = [
            f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("scope") != "host"
        ]
        if addrs:
            out[link["ifname"]] = addrs
    return out


def _bgp_sessions(record: NodeRecord) -> dict[str, str]:
    result = run(exec_argv(record, ["vtysh", "-c", "show bgp summary json"]), timeout=15)
    try:
        summary = json.loads(result.stdout) if result.ok else {}
    except ValueError:
        return {}
    peers = summary.get("ipv4Unicast", {}).get("peers", {})
    return {peer: info.get("state", "?") for peer, info in sorted(peers.items())}


def exec_argv(record: NodeRecord, argv: list[str]) -> list[str]:
    """`argv` wrapped to run in the node's namespace under its hostname.

    `vtysh` is pointed at the node's FRR and `redis-cli` at its Redis, so ``exec leaf01 -- vtysh``
    works as on the switch.
    """
    argv = list(argv)
    if record.ssh:  # a VM: its own FRR, lldpd ...; the command runs there as root
        return [*record.ssh, shlex.join(argv)]
    if argv and argv[0] == "vtysh" and record.frr_dir:
        argv[1:1] = ["--vty_socket", record.frr_dir, "--config_dir", record.frr_dir]
    elif argv and argv[0] == "redis-cli" and record.redis_socket:
        argv[1:1] = ["-s", record.redis_socket]
    elif argv and argv[0] in ("lldpctl", "lldpcli") and record.lldp_socket:
        argv[1:1] = ["-u", record.lldp_socket]
    return wrap(argv, netns=record.netns, hostname=record.name)


def exec_in(name: str, node: str, argv: list[str], *, timeout: float = 60.0) -> Result:
    """Run `argv` in node `node` of lab `name` to completion (see `exec_argv`)."""
    record = LabState.load(name).node(node)
    return run(exec_argv(record, argv), timeout=timeout)
