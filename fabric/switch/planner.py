"""The one place the daemon meets the renderer (issue "switch and machine rendering").

`load_planner()` composes the renderer's pure functions into the daemon's `Planner`:
``build_configdb(state, observed)`` → ``render_frr`` of the final and the withdraw state →
``plan(Desired, Observed)``.  When the renderer is not installed yet it raises `PlannerMissing`
instead of planning anything: the daemon never invents a plan of its own.
"""

from __future__ import annotations

from fabric.adapters.configdb import Tables
from fabric.core.ops import Plan
from fabric.errors import FabricError
from fabric.model.switch import SwitchState
from fabric.switch.sync import Planner


class PlannerMissing(FabricError):
    """The renderer/planner (fabric.core.plan, fabric.render.frr) is not part of this installation."""


def load_planner() -> Planner:
    """The renderer's planner as `(state, tables, last_frr) -> Plan`; raises `PlannerMissing`."""
    try:
        from fabric.core.configdb import build_configdb
        from fabric.core.observed import Observed
        from fabric.core.ownership import Ownership
        from fabric.core.plan import Desired, plan
        from fabric.core.withdraw import withdraw_state
        from fabric.render.frr import render_frr
    except ImportError as exc:
        raise PlannerMissing(
            f"planning needs the renderer (fabric.core.plan and fabric.render.frr), "
            f"which this installation does not have yet: {exc}"
        ) from None

    def planner(state: SwitchState, tables: Tables, last_frr: str | None) -> Plan:
        observed = Observed(configdb=tables, frr=last_frr)
        configdb = build_configdb(state, observed)
        desired = Desired(
            configdb=configdb,
            ownership=Ownership.of(state),
            frr=render_frr(state),
            frr_withdraw=render_frr(withdraw_state(state, configdb, observed)),
        )
        result: Plan = plan(desired, observed)
        return result

    return planner
