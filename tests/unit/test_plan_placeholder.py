"""The planner and SONiC's ``NULL`` placeholder: dropped only from a key seen holding it."""

from __future__ import annotations

from fabric.core.observed import Observed
from fabric.core.ops import SetKey
from fabric.core.ownership import Ownership
from fabric.core.plan import Desired, plan

OWNERSHIP = Ownership(vni_range=(1, 10), vlan_range=(1000, 1100), pxe_vlan=None, ports=frozenset())


def test_observed_records_the_placeholder_and_hides_it() -> None:
    observed = Observed.from_configdb(
        {
            "VRF": {"Vrf1": {"NULL": "NULL"}, "Vrf2": {"NULL": "NULL", "vni": "2"}, "Vrf3": {"vni": "3"}},
            "LOOPBACK_INTERFACE": {"Loopback0": {}},  # sonic-cfggen form: Redis holds NULL = NULL
        }
    )
    assert observed.configdb["VRF"] == {"Vrf1": {}, "Vrf2": {"vni": "2"}, "Vrf3": {"vni": "3"}}
    held = {
        (t, k) for t in ("VRF", "LOOPBACK_INTERFACE", "VLAN") for k in ("Vrf1", "Vrf2", "Vrf3", "Loopback0")
    }
    assert {tk for tk in held if observed.holds_placeholder(*tk)} == {
        ("VRF", "Vrf1"),
        ("VRF", "Vrf2"),
        ("LOOPBACK_INTERFACE", "Loopback0"),
    }


def _ops(
    observed: dict[str, dict[str, dict[str, str]]], want: dict[str, dict[str, dict[str, str]]]
) -> list[SetKey]:
    result = plan(Desired(want, OWNERSHIP), Observed.from_configdb(observed))
    return [op for _, op in result.ops() if isinstance(op, SetKey)]


def test_only_a_key_holding_the_placeholder_drops_it() -> None:
    held = {"VRF": {"Vrf1": {"NULL": "NULL"}, "Vrf2": {"vni": "9"}}, "VLAN": {"Vlan1001": {"vlanid": "1001"}}}
    want = {
        "VRF": {"Vrf1": {"vni": "1"}, "Vrf2": {"vni": "2"}, "Vrf3": {"vni": "3"}},
        "VLAN": {"Vlan1001": {"vlanid": "1001", "mtu": "9000"}},
    }
    assert _ops(held, want) == [
        SetKey("VRF", "Vrf1", {"vni": "1"}, ("NULL",)),
        SetKey("VRF", "Vrf2", {"vni": "2"}),
        SetKey("VRF", "Vrf3", {"vni": "3"}),  # new: no placeholder to drop
        SetKey("VLAN", "Vlan1001", {"vlanid": "1001", "mtu": "9000"}),
    ]


def test_a_key_holding_only_the_placeholder_and_wanting_no_field_is_left_alone() -> None:
    assert (
        _ops(
            {"SUPPRESS_VLAN_NEIGH": {"Vlan1001": {"NULL": "NULL"}}}, {"SUPPRESS_VLAN_NEIGH": {"Vlan1001": {}}}
        )
        == []
    )


def test_a_key_that_only_loses_fields_gets_an_hdel_only_step() -> None:
    pxe = Ownership(vni_range=(1, 10), vlan_range=(1000, 1100), pxe_vlan=4000, ports=frozenset())
    held = {
        "VLAN": {
            "Vlan1001": {"vlanid": "1001", "mtu": "9000"},  # keeps vlanid: HDEL only
            "Vlan1002": {"NULL": "NULL", "vlanid": "1002", "mtu": "9000"},  # and its placeholder goes
            "Vlan4000": {"vlanid": "4000", "dhcp_servers@": "10.0.0.1"},  # PXE VLAN: the relay goes
        },
        "VRF": {
            "Vrf1": {"NULL": "NULL", "vni": "1"},  # left with only its placeholder: HDEL only
            "Vrf2": {"vni": "2"},  # left empty: the placeholder is written, or Redis deletes the key
        },
    }
    want = {
        "VLAN": {
            "Vlan1001": {"vlanid": "1001"},
            "Vlan1002": {"vlanid": "1002"},
            "Vlan4000": {"vlanid": "4000"},
        },
        "VRF": {"Vrf1": {}, "Vrf2": {}},
    }
    result = plan(Desired(want, pxe), Observed.from_configdb(held))
    assert [op for _, op in result.ops() if isinstance(op, SetKey)] == [
        SetKey("VRF", "Vrf1", {}, ("vni",)),
        SetKey("VRF", "Vrf2", {"NULL": "NULL"}, ("vni",)),
        SetKey("VLAN", "Vlan1001", {}, ("mtu",)),
        SetKey("VLAN", "Vlan1002", {}, ("mtu", "NULL")),
        SetKey("VLAN", "Vlan4000", {}, ("dhcp_servers@",)),
    ]
