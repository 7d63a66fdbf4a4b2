"""Safety checks before a sync writes: preconditions, ownership, the take-down guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.core.guard import GuardLimits, guard, known_frr_version, missing_preconditions, not_owned
from fabric.core.ops import DelKey, Phase, Plan, SetKey
from fabric.model import load
from fabric.model.switch import SwitchState

LEAF = json.loads((Path(__file__).parents[1] / "data" / "examples" / "leaf01.json").read_text())


def leaf() -> SwitchState:
    return load(SwitchState, LEAF)


def base_tables(state: SwitchState) -> dict[str, Any]:
    """What a prepared SONiC leaf holds before fabric touches it."""
    return {
        "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
        "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
        "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
        "VLAN": {"Vlan4000": {"vlanid": "4000"}},
        "PORT": {p.name: {"admin_status": "up", "mtu": "9100"} for p in state.ports},
        "DEVICE_METADATA": {"localhost": {"docker_routing_config_mode": "split"}},
    }


def test_prepared_leaf_meets_every_precondition() -> None:
    assert missing_preconditions(leaf(), base_tables(leaf()), "8.5.4") == []


@pytest.mark.parametrize(
    ("remove", "expect"),
    [
        ("VXLAN_TUNNEL", "no VTEP"),
        ("VXLAN_EVPN_NVO", "NVO"),
        ("LOOPBACK_INTERFACE", "loopback"),
        ("VLAN", "Vlan4000"),
        ("DEVICE_METADATA", "split"),
    ],
)
def test_each_missing_precondition_is_named(remove: str, expect: str) -> None:
    tables = base_tables(leaf())
    del tables[remove]
    missing = missing_preconditions(leaf(), tables, "8.5.4")
    assert len(missing) == 1 and expect in missing[0]


def test_missing_ports_and_frr_version() -> None:
    tables = base_tables(leaf())
    del tables["PORT"]["Ethernet4"]
    missing = missing_preconditions(leaf(), tables, None)
    assert any("Ethernet4" in m for m in missing)
    assert any("FRR" in m for m in missing)
    assert any("7.5" in m for m in missing_preconditions(leaf(), base_tables(leaf()), "7.5"))


def test_known_frr_versions() -> None:
    assert [known_frr_version(v) for v in ("8.4.4", "8.5", "10.3.1", "7.5.1", "x")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_ownership_refuses_foreign_keys() -> None:
    plan = Plan(
        (
            Phase(
                "add",
                (
                    SetKey("VRF", "Vrf100010", {"vni": "100010"}),
                    SetKey("VRF", "VrfMgmt", {}),  # not Vrf<vni in range>
                    SetKey("VLAN", "Vlan1001", {"vlanid": "1001"}),
                    SetKey("VLAN", "Vlan4000", {"vlanid": "4000"}),  # the PXE VLAN: fields only
                    SetKey("VLAN", "Vlan10", {"vlanid": "10"}),  # outside the local range
                    SetKey("INTERFACE", "Ethernet0", {"vrf_name": "Vrf100010"}),
                    SetKey("INTERFACE", "Ethernet96", {}),  # a port the state does not name
                    SetKey("VXLAN_TUNNEL_MAP", "vtep|map_100010_Vlan1001", {"vni": "100010"}),
                    SetKey("VLAN_MEMBER", "Vlan4000|Ethernet12", {"tagging_mode": "untagged"}),
                    DelKey("PORT", "Ethernet12"),  # base config: never deleted
                    DelKey("VLAN", "Vlan4000"),
                    DelKey("LOOPBACK_INTERFACE", "Loopback0"),
                ),
            ),
        )
    )
    assert not_owned(plan, leaf()) == [
        "VRF|VrfMgmt",
        "VLAN|Vlan10",
        "INTERFACE|Ethernet96",
        "PORT|Ethernet12",
        "VLAN|Vlan4000",
        "LOOPBACK_INTERFACE|Loopback0",
    ]


def _tables_with_tenants(ports: int, vrfs: int) -> dict[str, Any]:
    return {
        "PORT": {f"Ethernet{i * 4}": {"admin_status": "up"} for i in range(ports)},
        "VRF": {f"Vrf{100000 + i}": {"vni": str(100000 + i)} for i in range(vrfs)},
        "INTERFACE": {f"Ethernet{i * 4}": {"vrf_name": f"Vrf{100000 + i % vrfs}"} for i in range(ports)},
    }


def test_guard_allows_small_changes_and_refuses_mass_take_down() -> None:
    tables = _tables_with_tenants(16, 4)
    limits = GuardLimits(max_port_share=0.25, max_vrf_share=0.5, min_ports=2, min_vrfs=1)
    one = Plan((Phase("remove-port", (DelKey("INTERFACE", "Ethernet0"),)),))
    assert not guard(one, tables, limits).refused
    many = Plan((Phase("remove-port", tuple(DelKey("INTERFACE", f"Ethernet{i * 4}") for i in range(5))),))
    verdict = guard(many, tables, limits)
    assert verdict.refused and "5 of 16 ports" in verdict.reason
    vrfs = Plan((Phase("remove-vrf", tuple(DelKey("VRF", f"Vrf{100000 + i}") for i in range(3))),))
    assert "3 of 4 VRFs" in guard(vrfs, tables, limits).reason


def test_guard_counts_admin_down_and_vrf_moves_not_provisioning() -> None:
    tables = _tables_with_tenants(4, 2)
    plan = Plan(
        (
            Phase(
                "ports",
                (
                    SetKey("PORT", "Ethernet0", {"admin_status": "down"}),  # down: counts
                    SetKey("INTERFACE", "Ethernet4", {"vrf_name": "Vrf100000"}),  # moved: counts
                    SetKey("INTERFACE", "Ethernet8", {"vrf_name": "Vrf100000"}),  # unchanged
                    SetKey("PORT", "Ethernet12", {"admin_status": "up"}),  # up: never counts
                ),
            ),
        )
    )
    verdict = guard(plan, tables, GuardLimits(min_ports=0, max_port_share=1.0))
    assert verdict.ports_down == ("Ethernet0", "Ethernet4")
    assert not verdict.refused


def test_ownership_is_the_one_rule_set_of_fabric_core_ownership() -> None:
    """Fields of base-config keys other than the owned ones are refused, like the planner's rules."""
    plan = Plan(
        (
            Phase(
                "p",
                (
                    SetKey("PORT", "Ethernet0", {"admin_status": "down", "mtu": "9000"}),  # owned fields
                    SetKey("PORT", "Ethernet4", {"lanes": "1,2,3,4"}),  # not ours
                    SetKey("VLAN", "Vlan4000", {"vlanid": "4000"}, drop=("mac",)),  # not ours
                ),
            ),
        )
    )
    assert not_owned(plan, leaf()) == ["PORT|Ethernet4", "VLAN|Vlan4000"]
