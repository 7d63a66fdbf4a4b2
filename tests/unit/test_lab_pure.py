"""The lab's pure parts: addressing, the lab's intent and switch daemon configs, the base CONFIG_DB
(checked against SONiC's YANG models), lldpctl's JSON as LLDP_ENTRY_TABLE, CONFIG_DB read as the
stand-in's desired state."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric.switch.config import SwitchConfig
from lab.addressing import switch_identities
from lab.intent import lab_intent, nic_mac, switch_config, vrf_names
from lab.sonic.base_config import base_config, database_config, host_ports, redis_keys
from lab.sonic.desired import PortSpec, VlanSpec, desired, vxlan_name
from lab.sonic.lldp import LldpHold, lldp_entries
from lab.state import lab_prefix
from lab.topology import load_topology
from tests.yang_models import sonic_yang

REPO = Path(__file__).resolve().parents[2]
MINI = load_topology(REPO / "topologies" / "mini.clab.yml")
RACK = load_topology(REPO / "topologies" / "rack.clab.yml")


def test_identities_are_deterministic_per_role_in_name_order() -> None:
    ids = switch_identities(MINI)
    assert set(ids) == {"spine01", "spine02", "leaf01", "leaf02"}
    assert (ids["spine02"].asn, ids["spine02"].loopback) == (4_200_000_002, "10.255.0.2")
    assert (ids["leaf01"].asn, ids["leaf01"].vtep, ids["leaf01"].mac) == (
        4_200_000_101,
        "10.255.1.1",
        "02:fa:00:01:00:01",
    )
    rack = switch_identities(RACK)
    assert len({i.loopback for i in rack.values()}) == len(rack) == len({i.asn for i in rack.values()})


def test_lab_prefix_carries_the_topology_name() -> None:
    assert lab_prefix("mini") == "lab.mini"
    assert lab_prefix("mini") != lab_prefix("rack")


def test_lab_intent_declares_partition_switches_and_machines_but_no_cabling() -> None:
    ids = switch_identities(MINI)
    intent = lab_intent(MINI, ids)
    assert [p["name"] for p in intent["partitions"]] == ["mini"]
    leaf = next(s for s in intent["switches"] if s["name"] == "leaf01")
    assert (leaf["asn"], leaf["loopback"], leaf["rack"], leaf["role"]) == (
        4_200_000_101,
        "10.255.1.1",
        "rack01",
        "leaf",
    )
    m1 = next(m for m in intent["machines"] if m["name"] == "m1")
    assert m1["nics"] == [
        {"name": "lan0", "mac": nic_mac(MINI, "m1", 0)},
        {"name": "lan1", "mac": nic_mac(MINI, "m1", 1)},
    ]
    macs = [nic["mac"] for m in intent["machines"] for nic in m["nics"]]
    assert len(set(macs)) == len(macs) == 8  # 3 machines and a firewall, two NICs each
    assert {n["kind"] for n in intent["networks"]} == {"super", "underlay", "external"}
    assert "ports" not in leaf  # cabling is learned from LLDP, never declared


def test_switch_config_reaches_frr_through_the_namespace_and_renders_netns_vrfs_on_leaves() -> None:
    ids = switch_identities(MINI)
    args = {"netns": "lab.mini-leaf01", "frr_dir": "/tmp/f", "database_config": "/tmp/db.json",
            "url": "http://127.0.0.1:1", "token_file": "/tmp/t"}  # fmt: skip
    leaf = SwitchConfig.model_validate(switch_config(ids["leaf01"], **args))
    assert leaf.frr.vrf_backend == "netns" and leaf.frr.vty_socket_dir == "/tmp/f"
    assert leaf.frr.exec_prefix[:4] == ["ip", "netns", "exec", "lab.mini-leaf01"]
    assert "leaf01" in leaf.frr.exec_prefix  # vtysh runs under the switch's hostname
    spine = SwitchConfig.model_validate(switch_config(ids["spine01"], **args))
    assert spine.frr.vrf_backend == "kernel" and spine.frr.netns_vrfs_always == []
    # Every VNI of the partition's range has its VRF namespace made up front, named in the leaf's config.
    vnis = lab_intent(MINI, ids)["partitions"][0]["vni_range"]
    want = [f"Vrf{vni}" for vni in range(vnis["first"], vnis["last"] + 1)]
    assert leaf.frr.netns_vrfs_always == vrf_names() == want


def test_base_config_has_what_a_sonic_leaf_boots_with() -> None:
    leaf = base_config(MINI, switch_identities(MINI)["leaf01"])
    assert leaf["DEVICE_METADATA"]["localhost"]["docker_routing_config_mode"] == "split"
    assert leaf["VXLAN_EVPN_NVO"] == {"nvo": {"source_vtep": "vtep"}}
    assert len(leaf["PORT"]) == 32 and leaf["PORT"]["Ethernet124"]["lanes"] == "125,126,127,128"
    assert host_ports(MINI, "leaf01") == ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"]
    assert set(leaf["VLAN_MEMBER"]) == {f"Vlan4000|Ethernet{n}" for n in (0, 4, 8, 12)}
    assert redis_keys(leaf)["LOOPBACK_INTERFACE|Loopback0|10.255.1.1/32"] == {"NULL": "NULL"}
    spine = base_config(MINI, switch_identities(MINI)["spine01"])
    assert "VXLAN_TUNNEL" not in spine and spine["DEVICE_METADATA"]["localhost"]["type"] == "SpineRouter"
    dbs = database_config("/x/redis.sock")["DATABASES"]
    assert (dbs["CONFIG_DB"]["id"], dbs["APPL_DB"]["separator"], dbs["STATE_DB"]["id"]) == (4, ":", 6)


@pytest.mark.parametrize("switch", ["leaf01", "spine01", "leaf04"])
def test_base_config_validates_against_sonic_yang(switch: str) -> None:
    result = sonic_yang().validate(base_config(RACK, switch_identities(RACK)[switch]))
    assert result.ok, result.errors


def test_lldp_entries_from_lldpctl_json0() -> None:
    raw = {"lldp": [{"interface": [{
        "name": "Ethernet0", "rid": "1",
        "chassis": [{"id": [{"type": "mac", "value": "aa:bb:cc:dd:ee:ff"}], "name": [{"value": "m1"}],
                     "descr": [{"value": "Debian"}], "mgmt-ip": [{"value": "fe80::1"}]}],
        "port": [{"id": [{"type": "ifname", "value": "lan0"}], "descr": [{"value": "lan0"}]}],
    }]}]}  # fmt: skip
    assert lldp_entries(raw) == {
        "Ethernet0": {
            "lldp_rem_index": "1",
            "lldp_rem_chassis_id_subtype": "4",
            "lldp_rem_chassis_id": "aa:bb:cc:dd:ee:ff",
            "lldp_rem_sys_name": "m1",
            "lldp_rem_sys_desc": "Debian",
            "lldp_rem_man_addr": "fe80::1",
            "lldp_rem_port_id_subtype": "5",
            "lldp_rem_port_id": "lan0",
            "lldp_rem_port_desc": "lan0",
        }
    }
    assert lldp_entries({"lldp": [{}]}) == {}


def test_desired_reads_vrf_vlan_vni_and_ports() -> None:
    tables = {
        "VRF": {"Vrf100": {"vni": "100"}},
        "VLAN": {"Vlan1000": {"vlanid": "1000"}, "Vlan4000": {"vlanid": "4000"}},
        "VLAN_INTERFACE": {"Vlan1000": {"vrf_name": "Vrf100"}},
        "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.255.1.1"}},
        "VXLAN_TUNNEL_MAP": {"vtep|map_100_Vlan1000": {"vni": "100", "vlan": "Vlan1000"}},
        "INTERFACE": {"Ethernet0": {"vrf_name": "Vrf100"}, "Ethernet0|10.0.0.1/31": {"NULL": "NULL"}},
        "VLAN_MEMBER": {"Vlan4000|Ethernet4": {"tagging_mode": "untagged"}},
        "PORT": {"Ethernet0": {"mtu": "9100", "admin_status": "up"}, "Ethernet4": {}},
    }
    want = desired(tables)
    assert want.vrfs == {"Vrf100"} and want.tunnel == ("vtep", "10.255.1.1")
    assert want.vlans == {"Vlan1000": VlanSpec("Vrf100", 100), "Vlan4000": VlanSpec(None, None)}
    assert want.ports["Ethernet0"] == PortSpec(routed=True, vrf="Vrf100", vlan=None, admin_up=True, mtu=9100)
    assert want.ports["Ethernet4"] == PortSpec(
        routed=False, vrf=None, vlan="Vlan4000", admin_up=False, mtu=None
    )
    assert vxlan_name("vtep", "Vlan1000") == "vtep-1000"


def test_lldp_hold_keeps_a_lost_neighbour_in_a_vrf_and_for_the_hold_after() -> None:
    m1 = {"lldp_rem_sys_name": "m1"}
    hold = LldpHold(hold=10.0)
    assert hold.entries({"Ethernet0": m1}, set(), 0.0) == {"Ethernet0": m1}
    # Moved into a VRF namespace: lldpd no longer sees it, the neighbour stays however long.
    assert hold.entries({}, {"Ethernet0"}, 100.0) == {"Ethernet0": m1}
    # Moved back: kept while lldpd re-learns it, for the hold counted from the move.
    assert hold.entries({}, set(), 105.0) == {"Ethernet0": m1}
    assert hold.entries({}, set(), 110.0) == {}
    assert hold.entries({}, set(), 111.0) == {}  # forgotten, not resurrected
    other = {"lldp_rem_sys_name": "m9"}
    assert hold.entries({"Ethernet0": other}, set(), 112.0) == {"Ethernet0": other}  # what lldpd says wins


def test_the_load_balancer_speaker_announces_its_list_only_while_allocated(tmp_path: Path) -> None:
    from fabric.model.machine import Machine, MachineState
    from lab.machine import AgentConfig, host_addresses, speak, speaking, spoken

    cfg = AgentConfig("m1", "lab-m1", "/x", "http://api", "/t", str(tmp_path / "m1.speaker.json"))
    assert spoken(cfg) == []
    speak(cfg, ["203.0.113.7", "2001:db8:ff00::7"])
    assert spoken(cfg) == ["2001:db8:ff00::7", "203.0.113.7"]
    machine = Machine(name="m1", asn=4210000001, router_id="10.10.0.5")
    vrf = {"name": "Vrf100010", "vni": 100010}
    state = MachineState(machine=machine, vrf=vrf, uplinks=["lan0"], announce=["10.10.0.5/32"]).sealed(3)
    announced = speaking(state, spoken(cfg))  # the sealed document's hash no longer applies: dropped
    assert announced is not None and [str(n) for n in announced.announce] == [
        "10.10.0.5/32",
        "203.0.113.7/32",
        "2001:db8:ff00::7/128",
    ]
    assert host_addresses(announced) == {"10.10.0.5/32", "203.0.113.7/32", "2001:db8:ff00::7/128"}
    unallocated = MachineState(machine=machine, uplinks=["lan0"])
    assert speaking(unallocated, spoken(cfg)) == unallocated and speaking(None, spoken(cfg)) is None
