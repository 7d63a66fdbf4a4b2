"""Keys fabric does not own that its plan would break (`fabric.core.conflicts`): each class is refused
before anything is written, naming the port and every conflicting key; where nothing conflicts, the
plan's result applied to what the switch holds is valid against SONiC's YANG models (when they are
at hand: `SONIC_YANG_DIR`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.core.configdb import merge_configdb
from fabric.core.observed import Observed
from fabric.core.ownership import Ownership
from fabric.errors import ApplyError
from fabric.model import SwitchState, load
from fabric.render.switch import plan_switch
from tests.unit.plan_helpers import after_plan
from tests.yang_models import sonic_yang

GOLDEN = Path(__file__).parents[1] / "golden"
BASE: dict[str, Any] = json.loads((GOLDEN / "base_config.json").read_text())
# Ethernet0/4 tenant machines, Ethernet8 firewall, Ethernet12/16 unprovisioned (PXE Vlan4000),
# Ethernet20 unused, Ethernet120/124 uplinks; vlan_range 1001-2000.
STATE = load(SwitchState, json.loads((GOLDEN / "leaf_example" / "switch.json").read_text()))

REFUSED = [
    pytest.param(
        {
            "PORTCHANNEL": {"PortChannel0001": {"admin_status": "up"}},
            "PORTCHANNEL_MEMBER": {"PortChannel0001|Ethernet0": {}},
        },
        ["port Ethernet0 is a member of PortChannel0001 (PORTCHANNEL_MEMBER|PortChannel0001|Ethernet0)"],
        id="tenant-port-in-a-portchannel",
    ),
    pytest.param(
        {"INTERFACE": {"Ethernet0": {}, "Ethernet0|10.9.9.0/31": {}}},
        ["port Ethernet0 has an address configured outside fabric (INTERFACE|Ethernet0|10.9.9.0/31)"],
        id="routed-port-with-an-address-into-a-tenant-vrf",
    ),
    pytest.param(
        {"INTERFACE": {"Ethernet12": {}, "Ethernet12|10.9.9.2/31": {}}},
        ["port Ethernet12 has an address configured outside fabric (INTERFACE|Ethernet12|10.9.9.2/31)"],
        id="routed-port-with-an-address-into-the-pxe-vlan",
    ),
    pytest.param(
        {"INTERFACE": {"Ethernet20": {}, "Ethernet20|10.9.9.4/31": {}}},
        ["port Ethernet20 has an address configured outside fabric (INTERFACE|Ethernet20|10.9.9.4/31)"],
        id="unused-port-keeping-its-address",
    ),
    pytest.param(
        {"VLAN_MEMBER": {"Vlan10|Ethernet4": {"tagging_mode": "tagged"}}},
        ["port Ethernet4 is a member of Vlan10, which fabric does not own (VLAN_MEMBER|Vlan10|Ethernet4)"],
        id="tenant-port-in-a-foreign-vlan",
    ),
    pytest.param(
        {
            "VLAN": {"Vlan1500": {"vlanid": "1500"}},
            "VLAN_MEMBER": {"Vlan1500|Ethernet100": {"tagging_mode": "untagged"}},
            "VLAN_INTERFACE": {"Vlan1500": {}, "Vlan1500|10.15.0.1/24": {}},
        },
        [
            "Vlan1500 is to be removed but VLAN_INTERFACE|Vlan1500|10.15.0.1/24 still uses it",
            "Vlan1500 is to be removed but VLAN_MEMBER|Vlan1500|Ethernet100 still uses it",
        ],
        id="hand-made-vlan-in-vlan_range",
    ),
    pytest.param(
        {"VRF": {"Vrf100099": {"vni": "100099"}}, "INTERFACE": {"Ethernet100": {"vrf_name": "Vrf100099"}}},
        ["Vrf100099 is to be removed but INTERFACE|Ethernet100 is in it"],
        id="vrf-in-vni_range-used-by-a-foreign-port",
    ),
]


@pytest.mark.parametrize(("extra", "conflicts"), REFUSED)
def test_a_plan_that_would_break_foreign_keys_is_refused_naming_them(
    extra: dict[str, Any], conflicts: list[str]
) -> None:
    with pytest.raises(ApplyError) as refused:
        plan_switch(STATE, Observed.from_configdb(merge_configdb(BASE, extra)))
    error = refused.value
    assert (error.phase, error.retryable) == ("configdb:preconditions", True)
    assert "nothing was written" in str(error)
    for conflict in conflicts:
        assert conflict in str(error)


ALLOWED = [
    pytest.param({}, id="base-config"),
    pytest.param(
        {"INTERFACE": {"Ethernet120": {}, "Ethernet120|10.1.0.0/31": {}}}, id="uplink-with-an-address"
    ),
    pytest.param(
        {
            "PORTCHANNEL": {"PortChannel0001": {"admin_status": "up"}},
            "PORTCHANNEL_MEMBER": {"PortChannel0001|Ethernet112": {}},
        },
        id="portchannel-on-a-port-fabric-does-not-use",
    ),
    pytest.param(
        {
            "VLAN": {"Vlan2500": {"vlanid": "2500"}},
            "VLAN_MEMBER": {"Vlan2500|Ethernet104": {"tagging_mode": "tagged"}},
        },
        id="vlan-outside-vlan_range",
    ),
]


@pytest.mark.parametrize("extra", ALLOWED)
def test_where_nothing_conflicts_the_result_stays_valid_against_sonic_yang(extra: dict[str, Any]) -> None:
    held = merge_configdb(BASE, extra)
    _, plan = plan_switch(STATE, Observed.from_configdb(held))
    result = after_plan(held, plan)
    ownership = Ownership.of(STATE)
    for table, keys in extra.items():  # foreign keys untouched
        for key, fields in keys.items():
            assert ownership.owns(table, key) or result[table][key] == fields, (table, key)
    verdict = sonic_yang().validate(result)
    assert verdict.ok, verdict.errors
