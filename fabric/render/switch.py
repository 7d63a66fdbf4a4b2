"""Everything a switch should hold, from its `SwitchState` and what it observes: the planner's input.

`desired_switch(state, observed)` builds CONFIG_DB (`fabric.core.configdb`), the final frr.conf and the
withdraw frr.conf (`fabric.core.withdraw`), then `fabric.core.plan.plan(desired, observed)` orders the
change.  `plan_switch` does both.
"""

from __future__ import annotations

from fabric.core.configdb import build_configdb
from fabric.core.frr_model import FrrOptions
from fabric.core.observed import Observed
from fabric.core.ops import Plan
from fabric.core.ownership import Ownership
from fabric.core.plan import Desired, plan
from fabric.core.withdraw import leaving_vrfs, withdraw_state
from fabric.model.switch import SwitchState
from fabric.render.frr import DEFAULT_OPTIONS, render_switch_frr


def desired_switch(state: SwitchState, observed: Observed, options: FrrOptions = DEFAULT_OPTIONS) -> Desired:
    """CONFIG_DB keys, final and withdraw frr.conf of `state` on a switch holding `observed`."""
    configdb = build_configdb(state, observed)
    final = render_switch_frr(state, options)
    withdraw = withdraw_state(state, configdb, observed)
    # Two reloads only under the netns backend, where the leaving VRF's `vrf` block stays: frr-reload.py
    # runs line deletions inside kept blocks (its `no vni`) after whole-instance deletions.  With kernel
    # VRFs the block vanishes, frr-reload.py deletes its lines in running-config order (`no vni` before
    # `no router bgp ... vrf`), so one reload is right (proven: tests/integration/vm/test_kernel_vrf.py);
    # a bare `vrf X` block would not even be canonical there (kernel FRR never prints one).
    leaving = leaving_vrfs(configdb, observed) if options.netns_vrfs else ()
    same = withdraw == state and not leaving
    frr_withdraw = final if same else render_switch_frr(withdraw, options, leaving)
    return Desired(configdb, Ownership.of(state), final, frr_withdraw)


def plan_switch(
    state: SwitchState, observed: Observed, options: FrrOptions = DEFAULT_OPTIONS
) -> tuple[Desired, Plan]:
    """The desired outputs and the plan that applies them."""
    desired = desired_switch(state, observed, options)
    return desired, plan(desired, observed, state.switch.name)
