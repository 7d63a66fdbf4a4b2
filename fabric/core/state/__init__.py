"""Desired-state documents built from store records: pure functions, no I/O.

`build_switch_state(view)`, `build_machine_state(machine)` and `build_firewall_state(firewall)` take the
records the store loaded for one document and return that document, unsealed (the store seals it with
its revision).  The same records always give the same document and hence the same hash.
"""

from fabric.core.state.firewall import build_firewall_state
from fabric.core.state.machine import build_machine_state
from fabric.core.state.records import (
    ExitRecord,
    MachineRecord,
    NetworkRecord,
    PartitionRecord,
    PortRecord,
    SwitchRecord,
    SwitchView,
)
from fabric.core.state.switch import build_switch_state

__all__ = [
    "ExitRecord",
    "MachineRecord",
    "NetworkRecord",
    "PartitionRecord",
    "PortRecord",
    "SwitchRecord",
    "SwitchView",
    "build_firewall_state",
    "build_machine_state",
    "build_switch_state",
]
