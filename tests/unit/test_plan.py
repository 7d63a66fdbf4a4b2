"""The plan: phases, dependency order, no delete and re-create in one phase, foreign keys untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fabric.core.configdb import merge_configdb
from fabric.core.observed import Observed
from fabric.core.ops import DelKey, Plan, SetKey
from fabric.core.ownership import Ownership
from fabric.model import SwitchState, load
from fabric.render.switch import desired_switch, plan_switch

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
BASE: dict[str, Any] = {
    "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
    "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
    "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
    "PORT": {"Ethernet0": {"lanes": "1,2,3,4", "mtu": "9100", "admin_status": "up"}},
}
FOREIGN: dict[str, Any] = {
    "VRF": {"Vrf7": {"vni": "7"}, "VrfMgmt": {}},  # VNI 7 is outside vni_range
    "VLAN": {"Vlan10": {"vlanid": "10"}},
    "VLAN_MEMBER": {"Vlan10|Ethernet100": {"tagging_mode": "tagged"}, "Vlan4000|Ethernet64": {}},
    "INTERFACE": {"Ethernet64": {"vrf_name": "Vrf7"}, "Ethernet120|10.1.0.1/31": {}},
    "VXLAN_TUNNEL_MAP": {"vtep|map_7_Vlan10": {"vni": "7", "vlan": "Vlan10"}},
}


def leaf(**changes: Any) -> SwitchState:
    data = json.loads((EXAMPLES / "leaf01.json").read_text())
    data.update(changes)
    return load(SwitchState, data)


def applied(state: SwitchState, extra: dict[str, Any] | None = None) -> Observed:
    """A switch that holds `state` already (and `extra` keys)."""
    base = Observed.from_configdb(merge_configdb(BASE, extra or {}))
    desired = desired_switch(state, base)
    return Observed.from_configdb(merge_configdb(base.configdb, desired.configdb), frr=desired.frr)


def keys(plan: Plan) -> list[str]:
    return [f"{op.action} {op.table}|{op.key}" for _, op in plan.ops()]


def test_first_apply_adds_in_dependency_order_then_frr() -> None:
    _, plan = plan_switch(leaf(), Observed.from_configdb(BASE))
    assert [p.name for p in plan.phases] == ["add-vrf", "add-vlan", "add-vlan-interface", "add-port", "frr"]
    assert plan.phases[-1].frr is not None and not plan.phases[-1].ops
    assert all(op.action == "set" for _, op in plan.ops())


def test_applied_state_gives_an_empty_plan() -> None:
    state = leaf()
    _, plan = plan_switch(state, applied(state))
    assert plan.empty and plan.phases == ()


def test_foreign_keys_are_never_touched() -> None:
    state = leaf()
    observed = applied(state, FOREIGN)
    _, plan = plan_switch(state, observed)
    assert plan.empty
    # removing every tenant of ours (the uplinks stay, every other port unused) leaves every foreign key
    # alone (ports fabric gives up keep their foreign keys; fabric.core.conflicts refuses the rest)
    ports = [
        p.model_dump() if p.role == "uplink" else {"name": p.name, "role": "unused"} for p in state.ports
    ]
    bare = leaf(ports=ports, vrfs=[], firewalls=[], dhcp_relay=[])
    _, plan = plan_switch(bare, observed)
    touched = keys(plan)
    for table, entries in FOREIGN.items():
        for key in entries:
            assert not any(t.endswith(f" {table}|{key}") for t in touched), (table, key)
    assert "del VRF|Vrf100010" in touched


def test_vrf_change_of_a_port_is_delete_then_recreate_in_later_phase() -> None:
    before = leaf()
    ports = [p.model_dump() for p in before.ports]
    for p in ports:
        if p["name"] == "Ethernet4":
            p["vrf"] = "Vrf100010"
    _, plan = plan_switch(leaf(ports=ports), applied(before))
    names = [(phase.name, f"{op.action} {op.table}|{op.key}") for phase, op in plan.ops()]
    assert ("remove-port", "del INTERFACE|Ethernet4") in names
    assert ("add-port", "set INTERFACE|Ethernet4") in names
    assert not any("VRF|" in k for k in keys(plan))  # the VRF itself stays
    first = plan.phases[0]
    assert first.name == "remove-port" and first.frr is not None and "Ethernet4" not in first.frr


def test_no_phase_deletes_and_sets_one_key() -> None:
    before = leaf()
    uplinks = [p.model_dump() for p in before.ports_with_role("uplink")]
    freed = [{"name": p.name, "role": "unused"} for p in before.ports if p.role != "uplink"]
    after = leaf(vrfs=[{"name": "Vrf100030", "vni": 100030}], ports=uplinks + freed, firewalls=[])
    _, plan = plan_switch(after, applied(before))
    for phase in plan.phases:
        dels = {(o.table, o.key) for o in phase.ops if isinstance(o, DelKey)}
        sets = {(o.table, o.key) for o in phase.ops if isinstance(o, SetKey)}
        assert not dels & sets, phase.name
    order = [p.name for p in plan.phases]
    assert order.index("remove-vrf") < order.index("add-vrf")
    # the freed VLAN is not reused in the same plan
    assert "set VLAN|Vlan1003" in keys(plan)


def test_port_fields_change_in_place_and_only_owned_fields() -> None:
    before = leaf()
    ports = [p.model_dump() | ({"mtu": 1500} if p.name == "Ethernet0" else {}) for p in before.ports]
    _, plan = plan_switch(leaf(ports=ports), applied(before))
    assert [(p.name, op) for p, op in plan.ops()] == [
        ("add-port", SetKey("PORT", "Ethernet0", {"mtu": "1500"}))
    ]


def test_dhcp_servers_removed_are_dropped_from_the_pxe_vlan() -> None:
    before = leaf()
    _, plan = plan_switch(leaf(dhcp_relay=[]), applied(before))
    assert [op for _, op in plan.ops()] == [SetKey("VLAN", "Vlan4000", {}, ("dhcp_servers@",))]


def test_ownership_rules() -> None:
    own = Ownership.of(leaf())
    assert own.owns("VRF", "Vrf100010") and not own.owns("VRF", "Vrf7") and not own.owns("VRF", "VrfMgmt")
    assert own.owns("VLAN", "Vlan1001") and own.owns("VLAN", "Vlan4000") and not own.owns("VLAN", "Vlan10")
    assert not own.owns("VLAN_INTERFACE", "Vlan4000")
    assert own.owns("VXLAN_TUNNEL_MAP", "vtep|map_100010_Vlan1001")
    assert not own.owns("INTERFACE", "Ethernet0|10.0.0.1/31") and not own.owns("INTERFACE", "Ethernet64")
    assert own.owns("VLAN_MEMBER", "Vlan4000|Ethernet12") and not own.owns("VLAN_MEMBER", "Vlan10|Ethernet0")
    assert own.field_owned("PORT", "Ethernet0") == ("admin_status", "mtu")
    assert not own.owns("LOOPBACK_INTERFACE", "Loopback0")
