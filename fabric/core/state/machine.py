"""`build_machine_state`: what an allocated machine's FRR announces towards its leaves."""

from __future__ import annotations

import ipaddress

from fabric.core.state.records import MachineRecord
from fabric.core.state.switch import host_prefix
from fabric.errors import ValidationError
from fabric.model.machine import Machine, MachineState, MachineVrf


def router_id(machine: MachineRecord) -> ipaddress.IPv4Address:
    """The machine's router id: its lowest own IPv4 address."""
    v4 = sorted(ipaddress.IPv4Address(ip) for ip in machine.ips if ipaddress.ip_address(ip).version == 4)
    if not v4:
        raise ValidationError(f"machine {machine.name} has no IPv4 address for a router id", "ips")
    return v4[0]


def build_machine_state(machine: MachineRecord) -> MachineState:
    """The desired state of an allocated machine (unsealed)."""
    private = machine.private
    if machine.asn is None or private is None or private.vni is None:
        raise ValidationError(f"machine {machine.name} is not allocated", "machine")
    extra = [p.split()[0] for p in private.extra_prefixes]
    return MachineState(
        machine=Machine(name=machine.name, asn=machine.asn, router_id=router_id(machine)),
        vrf=MachineVrf(name=f"Vrf{private.vni}", vni=private.vni),
        uplinks=sorted(machine.nics),
        announce=[host_prefix(ip) for ip in machine.ips] + extra,
    )
