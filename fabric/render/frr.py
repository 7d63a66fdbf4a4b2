"""FRR text from the data of `fabric.core.frr_switch` / `frr_machine` / `frr_firewall` (templates/frr/)."""

from __future__ import annotations

from collections.abc import Sequence

from fabric.core.frr_firewall import build_firewall_frr
from fabric.core.frr_machine import build_machine_frr
from fabric.core.frr_model import FrrConfig, FrrOptions
from fabric.core.frr_switch import build_switch_frr
from fabric.model.firewall import FirewallState
from fabric.model.machine import MachineState
from fabric.model.switch import SwitchState
from fabric.render.env import render

DEFAULT_OPTIONS = FrrOptions()


def render_config(config: FrrConfig) -> str:
    """Format an `FrrConfig` as frr.conf text in FRR's canonical form."""
    return render("frr/frr.j2", config=config)


def render_switch_frr(
    state: SwitchState, options: FrrOptions = DEFAULT_OPTIONS, leaving: Sequence[str] = ()
) -> str:
    """frr.conf of a leaf or spine (`leaving`: VRFs on their way out, see `build_switch_frr`)."""
    return render_config(build_switch_frr(state, options, leaving))


def render_machine_frr(state: MachineState, options: FrrOptions = DEFAULT_OPTIONS) -> str:
    """frr.conf of a machine (routing on the host)."""
    return render_config(build_machine_frr(state, options))


def render_firewall_frr(state: FirewallState, options: FrrOptions = DEFAULT_OPTIONS) -> str:
    """frr.conf of a firewall (VRFs with L3VNIs, route leaking, EVPN to both leaves)."""
    return render_config(build_firewall_frr(state, options))
