"""The whole lab on mini.clab.yml (2 spines, 2 leaves, 2 machines, a firewall, an exit router),
brought up once for the module: underlay, LLDP into APPL_DB, the SONiC stand-in realising a tenant VRF
(and two machines pinging each other over VXLAN EVPN type-5), coalescing, status/exec from another
process, refusal of a second `up`, and a `down` that leaves nothing.  Tests run in file order; the last
one takes the lab down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from fabric.errors import ApplyError
from lab import fabric_lab
from lab.rig import list_netns, procs, run_and_expect, wait_until
from lab.sonic.base_config import APPL_DB, CONFIG_DB, STATE_DB
from lab.state import LAB_ROOT, LabError, LabState

pytestmark = pytest.mark.needs("netns", "frr", "redis", "lldp", "ping")

UP = 30.0  # BGP ~5 s and LLDP ~2 s from nothing; generous for a loaded 2-core VM
FABRIC = Path(sys.executable).parent / "fabric"
LEAF_PORTS = {  # leaf port -> (LLDP system name, its port) from mini.clab.yml
    "leaf01": {"Ethernet0": ("m1", "lan0"), "Ethernet4": ("m2", "lan0"), "Ethernet8": ("fw01", "lan0"),
               "Ethernet120": ("spine01", "Ethernet0"), "Ethernet124": ("spine02", "Ethernet0")},
    "leaf02": {"Ethernet0": ("m1", "lan1"), "Ethernet4": ("m2", "lan1"), "Ethernet8": ("fw01", "lan1"),
               "Ethernet120": ("spine01", "Ethernet4"), "Ethernet124": ("spine02", "Ethernet4")},
}  # fmt: skip


def db(lab: LabState, node: str, number: int) -> redis.Redis:
    return redis.Redis(unix_socket_path=lab.nodes[node].redis_socket or "", db=number, decode_responses=True)


def vtysh_json(lab: LabState, node: str, command: str) -> Any:
    result = fabric_lab.exec_in(lab.name, node, ["vtysh", "-c", command])
    if not result.ok:
        raise ApplyError(result.describe())
    return json.loads(result.stdout)


def _vtysh(lab: LabState, node: str, commands: tuple[str, ...]) -> tuple[bool, str]:
    argv = ["vtysh"]
    for command in commands:
        argv += ["-c", command]
    result = fabric_lab.exec_in(lab.name, node, argv)
    return result.ok and "%" not in result.stdout, result.describe() + result.stdout


def vtysh(lab: LabState, node: str, *commands: str) -> None:
    ok, text = _vtysh(lab, node, commands)
    assert ok, text


def vtysh_ok(lab: LabState, node: str, *commands: str) -> bool:
    """Whether FRR accepted every command (no error, no `%` complaint)."""
    return _vtysh(lab, node, commands)[0]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FABRIC), "lab", *args], capture_output=True, text=True, timeout=60, check=False
    )


def in_vrf(lab: LabState, node: str, vrf: str, *argv: str) -> subprocess.CompletedProcess[str]:
    path = Path(lab.nodes[node].vrf_dir or "") / vrf
    return subprocess.run(["nsenter", f"--net={path}", *argv], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("leaf", ["leaf01", "leaf02"])
def test_underlay_bgp_is_established_to_every_spine(lab: LabState, leaf: str) -> None:
    peers = {"Ethernet120": {"state": "Established", "hostname": "spine01"},
             "Ethernet124": {"state": "Established", "hostname": "spine02"}}  # fmt: skip
    run_and_expect(
        lambda: vtysh_json(lab, leaf, "show bgp summary json"),
        {"ipv4Unicast": {"peers": peers}},
        timeout=UP,
        retry_on=(ApplyError, ValueError),
        what=f"underlay BGP of {leaf}",
    )


def test_leaf_loopbacks_reach_each_other(lab: LabState) -> None:
    ping = ["ping", "-c1", "-W1", "-I", "10.255.1.1", "10.255.1.2"]
    wait_until(lambda: fabric_lab.exec_in(lab.name, "leaf01", ping).ok, timeout=UP, what="leaf01 -> leaf02")


@pytest.mark.parametrize("leaf", ["leaf01", "leaf02"])
def test_lldp_neighbours_appear_in_appl_db(lab: LabState, leaf: str) -> None:
    appl = db(lab, leaf, APPL_DB)
    expected = {
        port: {"lldp_rem_sys_name": name, "lldp_rem_port_id": remote, "lldp_rem_port_id_subtype": "5"}
        for port, (name, remote) in LEAF_PORTS[leaf].items()
    }
    run_and_expect(
        lambda: {port: appl.hgetall(f"LLDP_ENTRY_TABLE:{port}") for port in expected},
        expected,
        timeout=UP,
        what=f"LLDP_ENTRY_TABLE of {leaf}",
    )


def test_port_oper_state_is_in_appl_and_state_db(lab: LabState) -> None:
    appl, state = db(lab, "leaf01", APPL_DB), db(lab, "leaf01", STATE_DB)
    run_and_expect(
        lambda: {
            "linked": appl.hgetall("PORT_TABLE:Ethernet0"),
            "unlinked": appl.hgetall("PORT_TABLE:Ethernet60"),
            "state": state.hgetall("PORT_TABLE|Ethernet0"),
        },
        {
            "linked": {"oper_status": "up", "admin_status": "up", "mtu": "9100"},
            "unlinked": {"oper_status": "down"},
            "state": {"state": "ok", "netdev_oper_status": "up"},
        },
        timeout=10,
        what="PORT_TABLE of leaf01",
    )


def test_base_config_is_seeded_and_database_config_names_the_socket(lab: LabState) -> None:
    record = lab.nodes["leaf01"]
    config = db(lab, "leaf01", CONFIG_DB)
    assert config.hgetall("DEVICE_METADATA|localhost")["docker_routing_config_mode"] == "split"
    assert config.hgetall("VXLAN_TUNNEL|vtep") == {"src_ip": "10.255.1.1"}
    assert config.hgetall("VLAN_MEMBER|Vlan4000|Ethernet0") == {"tagging_mode": "untagged"}
    assert db(lab, "spine01", CONFIG_DB).hget("DEVICE_METADATA|localhost", "type") == "SpineRouter"
    dbconf = json.loads(Path(record.database_config or "").read_text())
    assert dbconf["INSTANCES"]["redis"]["unix_socket_path"] == record.redis_socket
    assert dbconf["DATABASES"]["CONFIG_DB"] == {"id": 4, "separator": "|", "instance": "redis"}
    assert dbconf["DATABASES"]["APPL_DB"] == {"id": 0, "separator": ":", "instance": "redis"}
    assert dbconf["DATABASES"]["STATE_DB"] == {"id": 6, "separator": "|", "instance": "redis"}


def test_status_and_exec_from_another_process(lab: LabState) -> None:
    result = cli("status", lab.name, "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    nodes = {node["name"]: node for node in report["nodes"]}
    assert set(nodes) == {"spine01", "spine02", "leaf01", "leaf02", "m1", "m2", "fw01", "exit01"}
    leaf = nodes["leaf01"]
    assert leaf["netns"] == f"lab.{lab.name}-leaf01" and leaf["netns_exists"]
    assert "10.255.1.1/32" in leaf["addresses"]["lo"]
    assert set(leaf["daemons"]) == {"redis", "zebra", "bgpd", "staticd", "lldpd", "sonic"}
    assert all(d["alive"] for node in nodes.values() for d in node["daemons"].values())
    assert leaf["bgp"] == {"Ethernet120": "Established", "Ethernet124": "Established"}

    mode = cli("exec", lab.name, "leaf01", "--", "redis-cli", "-n", "4", "hget", "DEVICE_METADATA|localhost",
               "docker_routing_config_mode")  # fmt: skip
    assert mode.stdout.strip() == "split", mode.stderr
    hostname = cli("exec", lab.name, "m1", "--", "hostname")
    assert hostname.stdout.strip() == "m1"


def test_up_refuses_when_the_lab_exists(lab: LabState) -> None:
    with pytest.raises(LabError, match="exists already"):
        fabric_lab.up(lab.topology_file)
    refused = cli("up", lab.topology_file)
    assert refused.returncode == 1 and f"fabric lab down {lab.name}" in refused.stderr


# ---- a tenant VRF through CONFIG_DB ------------------------------------------------------------------
# What the switch daemon will write (ARCHITECTURE §4), written here by hand on both leaves: VRF Vrf100
# (VNI 100) with local VLAN 1000 as its L3VNI, and each leaf's port to a machine routed in it.
VRF, VNI, VLAN = "Vrf100", 100, "Vlan1000"
TENANT = {  # leaf -> (machine port, leaf address, machine, machine NIC, machine address)
    "leaf01": ("Ethernet0", "10.100.1.1/24", "m1", "lan0", "10.100.1.10/24"),
    "leaf02": ("Ethernet4", "10.100.2.1/24", "m2", "lan1", "10.100.2.10/24"),
}
ADD = [  # in the order the daemon adds (VRF → VLAN → VLAN_INTERFACE → VXLAN_TUNNEL_MAP → INTERFACE)
    ("VRF|Vrf100", {"vni": "100"}),
    ("VLAN|Vlan1000", {"vlanid": "1000"}),
    ("VLAN_INTERFACE|Vlan1000", {"vrf_name": VRF}),
    ("VXLAN_TUNNEL_MAP|vtep|map_100_Vlan1000", {"vni": "100", "vlan": VLAN}),
]


def tenant_state(lab: LabState, leaf: str) -> dict[str, dict[str, str]]:
    state, port = db(lab, leaf, STATE_DB), TENANT[leaf][0]
    keys = ["VRF_TABLE|Vrf100", "VLAN_TABLE|Vlan1000", "INTERFACE_TABLE|Vlan1000", f"INTERFACE_TABLE|{port}"]
    return {key: state.hgetall(key) for key in keys}


def test_the_standin_realises_a_tenant_vrf_and_machines_ping_over_vxlan(lab: LabState) -> None:
    for leaf, (port, *_) in TENANT.items():
        config = db(lab, leaf, CONFIG_DB)
        for key, fields in ADD:
            config.hset(key, mapping=fields)
        config.delete(f"VLAN_MEMBER|Vlan4000|{port}")  # out of the PXE VLAN first, as the daemon does
        config.hset(f"INTERFACE|{port}", mapping={"vrf_name": VRF})
    for leaf, (port, *_) in TENANT.items():
        run_and_expect(
            lambda leaf=leaf: tenant_state(lab, leaf),
            {
                "VRF_TABLE|Vrf100": {"state": "ok"},
                "VLAN_TABLE|Vlan1000": {"state": "ok"},
                "INTERFACE_TABLE|Vlan1000": {"vrf": VRF, "state": "ok"},
                f"INTERFACE_TABLE|{port}": {"vrf": VRF, "state": "ok"},
            },
            timeout=10,
            what=f"STATE_DB of {leaf}",
        )
        links = json.loads(in_vrf(lab, leaf, VRF, "ip", "-j", "-d", "link", "show").stdout)
        by_name = {link["ifname"]: link for link in links}
        assert by_name["vtep-1000"]["linkinfo"]["info_data"]["id"] == VNI
        assert by_name["vtep-1000"]["master"] == VLAN
        assert by_name[VLAN]["linkinfo"]["info_kind"] == "bridge"
        assert port in by_name

    # TEST-ONLY FRR and machine config, by hand: the renderer and the switch daemon (issues 4/5) will
    # write the leaves' FRR, and machines will run FRR from their MachineState.
    for leaf, (port, leaf_addr, machine, nic, machine_addr) in TENANT.items():
        asn = lab.nodes[leaf].asn
        vtysh(lab, leaf, "configure terminal", f"vrf {VRF}", f"vni {VNI}", "exit-vrf",
              f"interface {port} vrf {VRF}", f"ip address {leaf_addr}", "exit",
              f"router bgp {asn} vrf {VRF}", "address-family ipv4 unicast", "redistribute connected",
              "exit-address-family", "address-family l2vpn evpn", "advertise ipv4 unicast")  # fmt: skip
        gateway = leaf_addr.split("/")[0]
        for argv in (
            ["ip", "addr", "add", machine_addr, "dev", nic],
            ["ip", "route", "add", "default", "via", gateway],
        ):
            assert fabric_lab.exec_in(lab.name, machine, argv).ok
    ping = ["ping", "-c1", "-W1", "10.100.2.10"]
    wait_until(lambda: fabric_lab.exec_in(lab.name, "m1", ping).ok, timeout=UP, what="m1 -> m2 over VXLAN")
    # The route to m2's subnet is an EVPN type-5 route installed in leaf01's VRF towards leaf02's VTEP.
    run_and_expect(
        lambda: vtysh_json(lab, "leaf01", f"show ip route vrf {VRF} 10.100.2.0/24 json"),
        {
            "10.100.2.0/24": [
                {
                    "protocol": "bgp",
                    "installed": True,
                    "nexthops": [{"ip": "10.255.1.2", "interfaceName": VLAN, "active": True}],
                }
            ]
        },
        timeout=10,
        retry_on=(ApplyError, ValueError),
        what="type-5 route on leaf01",
    )


def test_removing_the_keys_tears_the_vrf_down_and_clears_state_db(lab: LabState) -> None:
    for leaf, (port, leaf_addr, *_) in TENANT.items():
        asn = lab.nodes[leaf].asn
        # TEST-ONLY: withdraw the hand-written FRR config first (FRR wants the L3VNI unconfigured
        # before its BGP instance goes), then the CONFIG_DB keys.
        vtysh(lab, leaf, "configure terminal", f"vrf {VRF}", f"no vni {VNI}", "exit-vrf")
        # bgpd lets go of the L3VNI asynchronously (under load it refuses with "Please unconfigure
        # l3vni" for a moment): retry the instance removal until FRR accepts it.
        wait_until(
            lambda leaf=leaf, asn=asn: vtysh_ok(
                lab, leaf, "configure terminal", f"no router bgp {asn} vrf {VRF}"
            ),
            timeout=10,
            what=f"BGP instance of {VRF} removed on {leaf}",
        )
        vtysh(lab, leaf, "configure terminal", f"interface {port} vrf {VRF}", f"no ip address {leaf_addr}")
        config = db(lab, leaf, CONFIG_DB)
        config.delete(f"INTERFACE|{port}")  # reverse order (ARCHITECTURE §4)
        config.hset(f"VLAN_MEMBER|Vlan4000|{port}", mapping={"tagging_mode": "untagged"})
        for key, _ in reversed(ADD):
            config.delete(key)
    for leaf, (port, *_) in TENANT.items():
        run_and_expect(
            lambda leaf=leaf: tenant_state(lab, leaf),
            {key: {} for key in tenant_state(lab, leaf)},
            timeout=10,
            what=f"STATE_DB of {leaf} cleared",
        )
        vrf_dir = Path(lab.nodes[leaf].vrf_dir or "")
        wait_until(lambda vrf_dir=vrf_dir: not (vrf_dir / VRF).exists(), timeout=10, what="VRF netns gone")
        # The port is back in the leaf and in the PXE VLAN's bridge.
        run_and_expect(
            lambda leaf=leaf, port=port: json.loads(
                fabric_lab.exec_in(lab.name, leaf, ["ip", "-j", "link", "show", port]).stdout or "[{}]"
            )[0],
            {"ifname": port, "master": "Vlan4000", "operstate": "UP"},
            timeout=10,
            what=f"{port} back in Vlan4000 on {leaf}",
        )


def test_set_and_delete_in_one_burst_leave_nothing(lab: LabState) -> None:
    config, state = db(lab, "leaf01", CONFIG_DB), db(lab, "leaf01", STATE_DB)
    burst = config.pipeline(transaction=True)
    burst.hset("VRF|Vrf900", mapping={"vni": "900"})
    burst.delete("VRF|Vrf900")
    burst.execute()
    config.hset("VRF|Vrf901", mapping={"vni": "901"})  # a later change: processed after the burst
    wait_until(lambda: state.exists("VRF_TABLE|Vrf901"), timeout=10, what="Vrf901 realised")
    assert not state.exists("VRF_TABLE|Vrf900")
    assert not (Path(lab.nodes["leaf01"].vrf_dir or "") / "Vrf900").exists()
    config.delete("VRF|Vrf901")
    wait_until(lambda: not state.exists("VRF_TABLE|Vrf901"), timeout=10, what="Vrf901 removed")


# ---- last: down ------------------------------------------------------------------------------------------


def test_down_removes_everything_the_lab_created(lab: LabState) -> None:
    pids = [(pid, start) for node in lab.nodes.values() for pid, start in node.daemons.values()]
    assert pids and all(procs.alive(pid, start) for pid, start in pids)
    result = cli("down", lab.name)
    assert result.returncode == 0, result.stderr
    assert not [pid for pid, start in pids if procs.alive(pid, start)]
    assert not [name for name in list_netns() if name.startswith(lab.prefix + "-")]
    assert not [m for m in procs.mountpoints() if lab.prefix in m]
    assert not list(Path("/tmp").glob(f"{lab.prefix}-*"))
    assert not (LAB_ROOT / lab.prefix).exists()
    again = cli("down", lab.name)
    assert again.returncode == 1 and "no lab named" in again.stderr
