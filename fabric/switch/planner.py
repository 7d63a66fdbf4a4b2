"""The one place the daemon meets the renderer: `fabric.render.switch.plan_switch`.

`load_planner(vrf_backend)` returns the daemon's `Planner`: it turns what the switch holds (its owned
CONFIG_DB tables and the frr.conf last applied) into the renderer's `Observed`, renders for the FRR
release read from the device (the capability table) and the configured VRF backend, and plans.
"""

from __future__ import annotations

from fabric.adapters.configdb import Tables
from fabric.core.frr_model import FrrOptions
from fabric.core.observed import Observed
from fabric.core.ops import Plan
from fabric.model.switch import SwitchState
from fabric.render.switch import plan_switch
from fabric.switch.sync import Planner


def load_planner(vrf_backend: str = "kernel") -> Planner:
    """The renderer's planner as `(state, tables, last_frr, frr_version) -> Plan`."""

    def planner(state: SwitchState, tables: Tables, last_frr: str | None, frr_version: str | None) -> Plan:
        observed = Observed.from_configdb(tables, frr=last_frr)
        options = FrrOptions(frr_version=frr_version, netns_vrfs=vrf_backend == "netns")
        _, result = plan_switch(state, observed, options)
        return result

    return planner
