"""CONFIG_DB builder, VLAN assignment and preconditions (pure, no Redis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.core.configdb import build_configdb
from fabric.core.observed import Observed
from fabric.core.vlans import assign_vlans
from fabric.errors import AllocationError, ApplyError
from fabric.model import SwitchState, load

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
BASE = {
    "VXLAN_TUNNEL": {"vtep1": {"src_ip": "10.0.0.11"}},
    "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep1"}},
    "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
}


def leaf(**changes: Any) -> SwitchState:
    data = json.loads((EXAMPLES / "leaf01.json").read_text())
    data.update(changes)
    return load(SwitchState, data)


def observed(**tables: Any) -> Observed:
    return Observed.from_configdb({**BASE, **tables})


def test_tunnel_map_uses_the_switch_tunnel_name_and_lowest_free_vlans() -> None:
    db = build_configdb(leaf(), observed(VLAN={"Vlan1001": {"vlanid": "1001"}}))
    assert db["VXLAN_TUNNEL_MAP"] == {
        "vtep1|map_100010_Vlan1002": {"vlan": "Vlan1002", "vni": "100010"},
        "vtep1|map_100020_Vlan1003": {"vlan": "Vlan1003", "vni": "100020"},
    }
    assert db["VLAN_INTERFACE"]["Vlan1002"] == {"vrf_name": "Vrf100010"}
    assert db["SUPPRESS_VLAN_NEIGH"]["Vlan1003"] == {"suppress": "on"}


def test_existing_vlan_map_is_reused() -> None:
    held = {"vtep1|map_100020_Vlan1500": {"vni": "100020", "vlan": "Vlan1500"}}
    vlans = assign_vlans(leaf(), observed(VXLAN_TUNNEL_MAP=held))
    assert vlans == {100010: 1001, 100020: 1500}


def test_exhausted_range_names_switch_and_range() -> None:
    state = leaf(vlan_range={"first": 1001, "last": 1001})
    with pytest.raises(AllocationError, match=r"leaf01: vlan_range 1001-1001 \(1 VLANs\)") as exc:
        assign_vlans(state, observed())
    assert exc.value.size == 1


def test_missing_vtep_is_a_precondition_not_an_allocation() -> None:
    with pytest.raises(ApplyError, match="VXLAN_TUNNEL, VXLAN_EVPN_NVO") as exc:
        build_configdb(leaf(), Observed.from_configdb({"LOOPBACK_INTERFACE": BASE["LOOPBACK_INTERFACE"]}))
    assert exc.value.retryable


def test_ports_by_role() -> None:
    db = build_configdb(leaf(), observed())
    assert db["INTERFACE"]["Ethernet0"] == {"ipv6_use_link_local_only": "enable", "vrf_name": "Vrf100010"}
    assert db["INTERFACE"]["Ethernet8"] == {"ipv6_use_link_local_only": "enable"}  # firewall: default VRF
    assert "Ethernet12" not in db["INTERFACE"]
    assert db["VLAN_MEMBER"] == {
        "Vlan4000|Ethernet12": {"tagging_mode": "untagged"},
        "Vlan4000|Ethernet16": {"tagging_mode": "untagged"},
    }
    assert db["PORT"]["Ethernet16"] == {"admin_status": "down", "mtu": "9000"}
    assert db["VLAN"]["Vlan4000"] == {"vlanid": "4000", "dhcp_servers@": "192.168.0.10,192.168.0.11"}
    assert all(isinstance(v, str) for t in db.values() for f in t.values() for v in f.values())


def test_spine_has_only_ports() -> None:
    spine = load(SwitchState, json.loads((EXAMPLES / "spine01.json").read_text()))
    assert set(build_configdb(spine, Observed())) == {"INTERFACE", "PORT"}


def test_observed_accepts_cfggen_lists_and_typed_values() -> None:
    got = Observed.from_configdb({"VLAN": {"Vlan4000": {"vlanid": "4000", "dhcp_servers": ["10.0.0.1"]}}})
    assert got.configdb["VLAN"]["Vlan4000"] == {"vlanid": "4000", "dhcp_servers@": "10.0.0.1"}
    # SONiC's loader stores str(value): a typed VNI is the VRF's VNI (tests/unit/test_observed_input.py).
    assert Observed.from_configdb({"VRF": {"Vrf1": {"vni": 1}}}).configdb["VRF"]["Vrf1"] == {"vni": "1"}
