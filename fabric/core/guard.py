"""Safety checks the switch daemon runs on a plan before anything is written (pure, no I/O).

- `missing_preconditions`: what the switch must already hold before the daemon may touch it (the VTEP,
  the loopback, the PXE VLAN, every port the state names, FRR in split mode at a known version).  The
  metal-core allocates a VLAN every cycle while the VTEP was missing; we report and write nothing.
- `not_owned`: operations of a plan on keys the daemon does not own (the one rule set,
  `fabric.core.ownership.Ownership`), a last line of defence against a planner bug touching someone
  else's configuration.
- `guard`: how many ports and VRFs a plan takes down; refused above a configured share unless forced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabric.core.observed import PLACEHOLDER
from fabric.core.ops import DelKey, Op, Plan, SetKey
from fabric.core.ownership import Ownership
from fabric.core.tables import Tables
from fabric.model.switch import SwitchState

SPLIT_MODES = ("split", "split-unified")
KNOWN_FRR_MAJORS = (8, 9, 10)


def known_frr_version(version: str) -> bool:
    """True for FRR releases SONiC ships (8.x up to 10.x), e.g. ``8.5.4`` or ``10.3``."""
    match = re.match(r"^(\d+)\.(\d+)", version)
    return match is not None and int(match.group(1)) in KNOWN_FRR_MAJORS


def missing_preconditions(state: SwitchState, tables: Tables, frr_version: str | None) -> list[str]:
    """Each precondition the switch does not meet, as a sentence; empty means writing may start."""
    missing: list[str] = []
    if state.is_leaf:
        if not tables.get("VXLAN_TUNNEL"):
            missing.append("CONFIG_DB VXLAN_TUNNEL: no VTEP configured")
        if not tables.get("VXLAN_EVPN_NVO"):
            missing.append("CONFIG_DB VXLAN_EVPN_NVO: no EVPN NVO configured")
    if not tables.get("LOOPBACK_INTERFACE"):
        missing.append("CONFIG_DB LOOPBACK_INTERFACE: no loopback configured")
    if state.pxe_vlan is not None and f"Vlan{state.pxe_vlan}" not in tables.get("VLAN", {}):
        missing.append(f"CONFIG_DB VLAN|Vlan{state.pxe_vlan}: the PXE VLAN does not exist")
    ports = tables.get("PORT", {})
    absent = [p.name for p in state.ports if p.name not in ports]
    if absent:
        missing.append(f"CONFIG_DB PORT: the switch has no port {', '.join(absent)}")
    mode = tables.get("DEVICE_METADATA", {}).get("localhost", {}).get("docker_routing_config_mode", "")
    if mode not in SPLIT_MODES:
        missing.append(
            f"CONFIG_DB DEVICE_METADATA|localhost docker_routing_config_mode is {mode or 'unset'!r}, "
            "needs split or split-unified (otherwise SONiC generates FRR config itself)"
        )
    if frr_version is None:
        missing.append("FRR: version unknown (vtysh 'show version' did not answer)")
    elif not known_frr_version(frr_version):
        missing.append(f"FRR: version {frr_version} is not one fabric knows (8.x to 10.x)")
    return missing


def not_owned(plan: Plan, state: SwitchState) -> list[str]:
    """``TABLE|key`` of every operation in `plan` the daemon may not perform (`fabric.core.ownership`).

    A key outside the ownership rules is refused; so is deleting a key of which only some fields are
    ours (`PORT`, the PXE VLAN: the switch's base config) or writing one of its other fields.
    (The placeholder the planner writes into a key it would otherwise leave empty is not a field.)
    """
    rules = Ownership.of(state)
    out = []
    for _, op in plan.ops():
        fields = rules.field_owned(op.table, op.key)
        partial = fields is not None and (
            isinstance(op, DelKey) or not set(op.fields) - {PLACEHOLDER} | set(op.drop) <= set(fields)
        )
        if not rules.owns(op.table, op.key) or partial:
            out.append(f"{op.table}|{op.key}")
    return out


@dataclass(frozen=True)
class GuardLimits:
    """Shares above which a plan is refused; counts up to `min_*` are always allowed."""

    max_port_share: float = 0.25
    max_vrf_share: float = 0.5
    min_ports: int = 2
    min_vrfs: int = 1


@dataclass(frozen=True)
class GuardVerdict:
    """What a plan takes down, out of how many, and whether that is refused."""

    ports_down: tuple[str, ...]
    vrfs_down: tuple[str, ...]
    total_ports: int
    total_vrfs: int
    refused: bool
    reason: str = ""


def _port_down(op: Op, tables: Tables) -> str | None:
    """The port `op` takes out of service: admin down, or removed from / moved between VRFs."""
    name = op.key.split("|", 1)[0]
    have = tables.get(op.table, {}).get(op.key)
    if op.table == "PORT" and isinstance(op, SetKey):
        was_up = have is None or have.get("admin_status", "up") != "down"
        return name if was_up and op.fields.get("admin_status") == "down" else None
    if op.table == "INTERFACE" and "|" not in op.key and have and have.get("vrf_name"):
        if isinstance(op, DelKey) or "vrf_name" in op.drop:
            return name
        new = op.fields.get("vrf_name")
        return name if new is not None and new != have["vrf_name"] else None
    return None


def guard(plan: Plan, tables: Tables, limits: GuardLimits) -> GuardVerdict:
    """Count the ports and VRFs `plan` takes down against what the switch holds (`tables`)."""
    ports = sorted({p for _, op in plan.ops() if (p := _port_down(op, tables)) is not None})
    vrfs = sorted({op.key for _, op in plan.ops() if isinstance(op, DelKey) and op.table == "VRF"})
    total_ports = max(len(tables.get("PORT", {})), 1)
    total_vrfs = max(len(tables.get("VRF", {})), 1)
    reasons = []
    if len(ports) > limits.min_ports and len(ports) / total_ports > limits.max_port_share:
        reasons.append(
            f"takes down {len(ports)} of {total_ports} ports (more than {limits.max_port_share:.0%})"
        )
    if len(vrfs) > limits.min_vrfs and len(vrfs) / total_vrfs > limits.max_vrf_share:
        reasons.append(f"removes {len(vrfs)} of {total_vrfs} VRFs (more than {limits.max_vrf_share:.0%})")
    return GuardVerdict(
        ports_down=tuple(ports),
        vrfs_down=tuple(vrfs),
        total_ports=total_ports,
        total_vrfs=total_vrfs,
        refused=bool(reasons),
        reason="; ".join(reasons),
    )
