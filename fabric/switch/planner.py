"""The one place the daemon meets the renderer: `fabric.render.switch.plan_switch`.

`load_planner(vrf_backend, netns_vrfs_always)` returns the daemon's `Planner`: it turns what the switch
holds (its owned CONFIG_DB tables and the frr.conf last applied) into the renderer's `Observed`, renders
for the FRR release read from the device (the capability table) and the configured VRF backend (with its
always-present VRF namespaces), and plans.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric.core.frr_model import FrrOptions
from fabric.core.observed import Observed
from fabric.core.ops import Plan
from fabric.core.tables import Tables
from fabric.model.switch import SwitchState
from fabric.render.switch import plan_switch
from fabric.switch.sync import Planner


def load_planner(vrf_backend: str = "kernel", netns_vrfs_always: Sequence[str] = ()) -> Planner:
    """The renderer's planner as `(state, tables, last_frr, frr_version) -> Plan`."""
    always = tuple(netns_vrfs_always)

    def planner(state: SwitchState, tables: Tables, last_frr: str | None, frr_version: str | None) -> Plan:
        observed = Observed.from_configdb(tables, frr=last_frr)
        netns = vrf_backend == "netns"
        options = FrrOptions(frr_version=frr_version, netns_vrfs=netns, netns_vrfs_always=always)
        _, result = plan_switch(state, observed, options)
        return result

    return planner
