"""Consistency rules of a `SwitchState` that span several fields.

Each rule yields `(path, message)`; paths name list items by their key (`ports[Ethernet4].vrf`) because
lists are normalised into the switch's order and an index would not point back at the input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fabric.model.switch import PortRole, SwitchState

Problem = tuple[str, str]


def switch_problems(state: SwitchState) -> list[Problem]:
    """Every consistency problem of `state`, in a stable order."""
    checks = (_ports_unique, _uplinks, _vrfs, _machine_ports, _firewalls, _exits, _role_rules)
    return [problem for check in checks for problem in check(state)]


def _ports_unique(state: SwitchState) -> Iterator[Problem]:
    for name, count in Counter(p.name for p in state.ports).items():
        if count > 1:
            yield f"ports[{name}]", f"port {name} is listed {count} times"
    if state.port(state.switch.mgmt.interface) is not None:
        yield (
            f"ports[{state.switch.mgmt.interface}]",
            "the management interface cannot be a fabric port",
        )


def _uplinks(state: SwitchState) -> Iterator[Problem]:
    for name in state.uplinks:
        port = state.port(name)
        if port is None:
            yield f"uplinks[{name}]", f"port {name} is not in ports"
        elif port.role != "uplink":
            yield f"uplinks[{name}]", f"port {name} has role {port.role}, not uplink"
    for port in state.ports_with_role("uplink"):
        if port.name not in state.uplinks:
            yield f"ports[{port.name}].role", f"uplink port {port.name} is missing from uplinks"


def _vrfs(state: SwitchState) -> Iterator[Problem]:
    for vni, count in Counter(v.vni for v in state.vrfs).items():
        if count > 1:
            yield f"vrfs[Vrf{vni}]", f"VNI {vni} is listed {count} times"
    if state.vrfs and state.vni_range is None:
        yield "vni_range", "required when vrfs are present"
    elif state.vni_range is not None:
        for vrf in state.vrfs:
            if vrf.vni not in state.vni_range:
                yield f"vrfs[{vrf.name}].vni", f"VNI {vrf.vni} is outside vni_range {state.vni_range}"


def _machine_ports(state: SwitchState) -> Iterator[Problem]:
    names = {v.name for v in state.vrfs}
    for port in state.ports_with_role("machine"):
        if port.vrf not in names:
            yield f"ports[{port.name}].vrf", f"VRF {port.vrf} is not defined in vrfs"


def _firewalls(state: SwitchState) -> Iterator[Problem]:
    return _attached("firewalls", "firewall", [f.port for f in state.firewalls], state)


def _exits(state: SwitchState) -> Iterator[Problem]:
    return _attached("exits", "exit", [e.port for e in state.exits], state)


def _attached(field: str, role: PortRole, ports: list[str], state: SwitchState) -> Iterator[Problem]:
    """Peers listed in `field` by port: one entry per port of `role`, each on such a port."""
    for name, count in Counter(ports).items():
        if count > 1:
            yield f"{field}[{name}]", f"port {name} has {count} {role} entries"
    for name in ports:
        port = state.port(name)
        if port is None:
            yield f"{field}[{name}].port", f"port {name} is not in ports"
        elif port.role != role:
            yield f"{field}[{name}].port", f"port {name} has role {port.role}, not {role}"
    for port in state.ports_with_role(role):
        if port.name not in ports:
            yield f"ports[{port.name}].role", f"{role} port {port.name} has no entry in {field}"


def _role_rules(state: SwitchState) -> Iterator[Problem]:
    if state.switch.role == "leaf":
        yield from _leaf_rules(state)
    else:
        yield from _spine_rules(state)


def _leaf_rules(state: SwitchState) -> Iterator[Problem]:
    if state.switch.vtep is None:
        yield "switch.vtep", "a leaf needs a VTEP address"
    if state.vrfs and state.vlan_range is None:
        yield "vlan_range", "required when vrfs are present (local VLANs of the L3VNIs)"
    if state.ports_with_role("unprovisioned") and state.pxe_vlan is None:
        yield "pxe_vlan", "required when unprovisioned ports are present"
    if state.pxe_vlan is not None and state.vlan_range is not None and state.pxe_vlan in state.vlan_range:
        yield "pxe_vlan", f"VLAN {state.pxe_vlan} lies inside vlan_range {state.vlan_range}"
    if state.dhcp_relay and state.pxe_vlan is None:
        yield "dhcp_relay", "DHCP servers need a pxe_vlan to relay for"


def _spine_rules(state: SwitchState) -> Iterator[Problem]:
    for field in ("vrfs", "firewalls", "dhcp_relay"):
        if getattr(state, field):
            yield field, "a spine carries no tenant VRFs, firewalls or DHCP relay"
    for port in state.ports:
        if port.role in ("machine", "firewall", "unprovisioned"):
            yield f"ports[{port.name}].role", f"a spine has no {port.role} ports"
    if state.switch.vtep is not None:
        yield "switch.vtep", "a spine has no VTEP"
    if state.pxe_vlan is not None:
        yield "pxe_vlan", "a spine has no PXE VLAN"
