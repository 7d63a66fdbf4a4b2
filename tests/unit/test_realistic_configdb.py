"""Switches as the field has them: config_db.json files in the shapes SONiC's tools write (written by
us from SONiC's documented schema, in tests/data/configdb/), each itself valid against SONiC's YANG
models, planned against typical documents.  Each either plans — and the plan's result is still valid
against the YANG models — or is refused up front naming every key in the way; never half-applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.core.observed import Observed
from fabric.errors import ApplyError
from fabric.model import SwitchState, load
from fabric.render.switch import plan_switch
from tests.unit.plan_helpers import after_plan
from tests.yang_models import sonic_yang

DATA = Path(__file__).parents[1] / "data" / "configdb"
GOLDEN = Path(__file__).parents[1] / "golden"
DOCUMENTS = ["leaf_example", "leaf_vrf_one", "leaf_ports"]
# file → None (plans) or what the refusal names, for every document (they all use those ports and that
# vlan_range)
EXPECTED: dict[str, list[str] | None] = {
    "cfggen_typed.json": None,
    "leaf_beside_operator.json": None,
    "t0_tor.json": [
        "port Ethernet4 is a member of Vlan1000, which fabric does not own (VLAN_MEMBER|Vlan1000|Ethernet4)",
        "port Ethernet120 is a member of PortChannel0003 (PORTCHANNEL_MEMBER|PortChannel0003|Ethernet120)",
    ],
    "leaf_hand_vlan_in_range.json": [
        "Vlan1500 is to be removed but VLAN_INTERFACE|Vlan1500|10.15.0.1/24 still uses it",
        "Vlan1500 is to be removed but VLAN_MEMBER|Vlan1500|Ethernet96 still uses it",
    ],
}


def test_every_file_is_covered() -> None:
    assert sorted(p.name for p in DATA.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_switch_plans_validly_or_is_refused_naming_the_keys(name: str, document: str) -> None:
    held = Observed.from_configdb(json.loads((DATA / name).read_text()))
    state = load(SwitchState, json.loads((GOLDEN / document / "switch.json").read_text()))
    yang = sonic_yang()
    verdict = yang.validate(held.configdb)
    assert verdict.ok, f"{name} itself: {verdict.errors}"
    conflicts = EXPECTED[name]
    if conflicts is not None:
        with pytest.raises(ApplyError, match="nothing was written") as refused:
            plan_switch(state, held)
        assert all(c in str(refused.value) for c in conflicts), str(refused.value)
        return
    _, plan = plan_switch(state, held)
    verdict = yang.validate(after_plan(held.configdb, plan))
    assert verdict.ok, f"{name} planned for {document}: {verdict.errors}"
