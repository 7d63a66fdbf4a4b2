"""The withdraw state: what FRR may still run while CONFIG_DB deletions are under way.

Before the daemon deletes a port's `INTERFACE` key or a VRF, FRR must stop using them (removing the
interface first crashes bgpd, as metal-core's order does).  The withdraw state is the desired
`SwitchState` cut down to what is already in place on the switch and stays: VRFs whose `VRF` key
exists as desired, ports whose `INTERFACE` key already matches.  Everything else is absent from FRR
until the final frr.conf.

A VRF on its way out (`leaving_vrfs`) stays in the withdraw config as a `vrf` block without its VNI and
its `router bgp ... vrf` instance without peers, and goes in the final one: bgpd refuses
`no router bgp ASN vrf X` while X's L3VNI is bound (`% Please unconfigure l3vni N`, FRR 8.4), and
frr-reload.py deletes whole instances before lines inside blocks, so one reload cannot remove both.
This two-step removal is for FRR's netns VRF backend (the lab), where the `vrf` block stays (` netns`
line) and frr-reload.py runs its ` no vni` only after whole-instance deletions.  With kernel VRFs the
block vanishes with the VRF and frr-reload.py deletes its lines first, in running-config order, so one
reload removes both without complaint (measured in the kernel-VRF VM, tests/integration/vm).
"""

from __future__ import annotations

from fabric.core.observed import Observed
from fabric.core.tables import Tables
from fabric.model.switch import Port, SwitchState


def withdraw_state(state: SwitchState, desired: Tables, observed: Observed) -> SwitchState:
    """`state` restricted to VRFs and ports whose CONFIG_DB keys already hold what `desired` asks."""
    vrfs = [v for v in state.vrfs if observed.fields("VRF", v.name) == desired.get("VRF", {}).get(v.name)]
    kept_vrfs = {v.name for v in vrfs}
    ports = [_port(p, desired, observed, kept_vrfs) for p in state.ports]
    routed = {p.name for p in ports if p.role == "firewall"}
    firewalls = [f for f in state.firewalls if f.port in routed]
    # model_copy does not validate: the cut-down state is consistent by construction (a subset).
    return state.model_copy(update={"vrfs": vrfs, "ports": ports, "firewalls": firewalls})


def _port(port: Port, desired: Tables, observed: Observed, vrfs: set[str]) -> Port:
    # Uplinks stay: they never move VRF, and dropping them would cut the switch off the fabric.
    if port.role not in ("machine", "firewall"):
        return port
    settled = observed.fields("INTERFACE", port.name) == desired.get("INTERFACE", {}).get(port.name)
    if settled and (port.vrf is None or port.vrf in vrfs):
        return port
    return port.model_copy(update={"role": "unused", "vrf": None, "allow": []})


def leaving_vrfs(desired: Tables, observed: Observed) -> tuple[str, ...]:
    """VRFs the switch holds (an owned `VRF` key) that `desired` no longer has, by name."""
    want = desired.get("VRF", {})
    return tuple(sorted(name for name in observed.configdb.get("VRF", {}) if name not in want))
