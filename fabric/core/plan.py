"""`plan(desired, observed)`: the ordered CONFIG_DB and FRR steps from what a switch holds to its intent.

Phases (docs/concepts.md#sonic), each executed as: reload FRR (when set), write its ops in one
pipeline, wait on STATE_DB:

1. `remove-port`: FRR withdraws first (the intermediate frr.conf without the neighbours and VRFs that go
   away), then port keys (`INTERFACE`, `VLAN_MEMBER`) are deleted;
2. `remove-vlan-interface`, `remove-vlan`, `remove-vrf`: the rest of the deletes, in reverse dependency
   order;
3. `add-vrf`, `add-vlan`, `add-vlan-interface`, `add-port`: adds and in-place changes in dependency order;
4. `frr`: the final frr.conf, unless the withdraw config of phase 1 was the final one already.

A key whose fields cannot change in place (`INTERFACE`, `VLAN_INTERFACE`, `VXLAN_TUNNEL_MAP`: SONiC's
managers only act on a create) is deleted in a remove phase and re-created in an add phase, never in the
same phase.  A key that gains fields loses SONiC's ``NULL`` placeholder (``NULL`` in `SetKey.drop`)
only when `observed` shows it holds one.  A key that only loses fields gets an HDEL-only step (a
`SetKey` without fields, with `drop`); the placeholder is written (``NULL`` in `SetKey.fields`) only
when that would leave the key empty, since Redis deletes an empty hash.  Keys the daemon does not own
(`fabric.core.ownership`) are never read into a plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabric.core.configdb import TABLE_ORDER
from fabric.core.conflicts import check_foreign_keys
from fabric.core.observed import PLACEHOLDER, Observed
from fabric.core.ops import DelKey, Op, Phase, Plan, SetKey, StateWait
from fabric.core.ownership import Ownership
from fabric.core.tables import Tables
from fabric.model.names import natural_key

LEVEL = {
    "VRF": 0,
    "VLAN": 1,
    "SUPPRESS_VLAN_NEIGH": 1,
    "VLAN_INTERFACE": 2,
    "VXLAN_TUNNEL_MAP": 2,
    "INTERFACE": 3,
    "VLAN_MEMBER": 3,
    "PORT": 3,
}
LEVEL_NAMES = ("vrf", "vlan", "vlan-interface", "port")
RECREATE = frozenset({"INTERFACE", "VLAN_INTERFACE", "VXLAN_TUNNEL_MAP"})
"""Tables whose keys are deleted and re-created (in two phases) when their fields change."""

STATE_TABLE = {"VRF": "VRF_TABLE", "VLAN": "VLAN_TABLE", "VLAN_INTERFACE": "INTERFACE_TABLE"}
"""STATE_DB table that shows a CONFIG_DB key was consumed (`INTERFACE` keys: `INTERFACE_TABLE`)."""


@dataclass(frozen=True)
class Desired:
    """Everything a switch should hold: owned CONFIG_DB keys and FRR's final and withdraw configs."""

    configdb: Tables
    ownership: Ownership
    frr: str | None = None
    frr_withdraw: str | None = None


def _per_level() -> list[list[Any]]:
    return [[] for _ in LEVEL_NAMES]


@dataclass
class _Steps:
    """Ops and waits collected per dependency level."""

    deletes: list[list[Op]] = field(default_factory=_per_level)
    adds: list[list[Op]] = field(default_factory=_per_level)
    delete_waits: list[list[StateWait]] = field(default_factory=_per_level)
    add_waits: list[list[StateWait]] = field(default_factory=_per_level)


def plan(desired: Desired, observed: Observed, switch: str = "") -> Plan:
    """The phases that take `observed` to `desired`; an empty plan when nothing differs.  Raises
    `ApplyError` (`configdb:preconditions`) when keys fabric does not own stand in the way
    (`fabric.core.conflicts`): nothing of such a plan is written."""
    check_foreign_keys(switch or "the switch", desired.configdb, desired.ownership, observed)
    steps = _Steps()
    for table in TABLE_ORDER:
        _diff_table(table, desired, observed, steps)
    phases: list[Phase] = []
    any_delete = any(steps.deletes)
    running = observed.frr  # what FRR runs when the phase being built starts
    for level in reversed(range(len(LEVEL_NAMES))):
        withdraw = level == len(LEVEL_NAMES) - 1 and any_delete
        frr = desired.frr_withdraw if withdraw and desired.frr_withdraw != running else None
        running = frr if frr is not None else running
        phases.append(
            Phase(
                f"remove-{LEVEL_NAMES[level]}",
                tuple(steps.deletes[level]),
                tuple(steps.delete_waits[level]),
                frr,
            )
        )
    for level, name in enumerate(LEVEL_NAMES):
        phases.append(Phase(f"add-{name}", tuple(steps.adds[level]), tuple(steps.add_waits[level])))
    # Not again when the withdraw config is the final one already (nothing was left to add).
    if desired.frr is not None and desired.frr != running:
        phases.append(Phase("frr", frr=desired.frr))
    return Plan(tuple(p for p in phases if p.ops or p.frr is not None))


def _diff_table(table: str, desired: Desired, observed: Observed, steps: _Steps) -> None:
    want_keys = desired.configdb.get(table, {})
    have_all = observed.configdb.get(table, {})
    have_keys = {k: v for k, v in have_all.items() if desired.ownership.owns(table, k)}
    level = LEVEL[table]
    for key in sorted(set(want_keys) | set(have_keys), key=natural_key):
        want, have = want_keys.get(key), have_keys.get(key)
        owned_fields = desired.ownership.field_owned(table, key)
        if owned_fields is not None:
            placeholder = observed.holds_placeholder(table, key)
            op = _field_update(table, key, want or {}, have or {}, owned_fields, placeholder=placeholder)
            if op is not None:
                steps.adds[level].append(op)
            continue
        if want is not None and have is None:
            steps.adds[level].append(SetKey(table, key, dict(want)))
            steps.add_waits[level].extend(_wait(table, key, present=True))
        elif want is None and have is not None:
            steps.deletes[level].append(DelKey(table, key))
            steps.delete_waits[level].extend(_wait(table, key, present=False))
        elif want is not None and have is not None and dict(want) != dict(have):
            if table in RECREATE:
                steps.deletes[level].append(DelKey(table, key))
                steps.delete_waits[level].extend(_wait(table, key, present=False))
                steps.adds[level].append(SetKey(table, key, dict(want)))
                steps.add_waits[level].extend(_wait(table, key, present=True))
            else:
                steps.adds[level].append(_in_place(table, key, want, have, observed))


def _in_place(
    table: str, key: str, want: Mapping[str, str], have: Mapping[str, str], observed: Observed
) -> SetKey:
    """The in-place change of a key we own whole: all wanted fields, or HDEL only when it only loses some."""
    drop = tuple(sorted(set(have) - set(want)))
    placeholder = observed.holds_placeholder(table, key)
    if want and placeholder:
        drop += (PLACEHOLDER,)  # the key has fields: SONiC's placeholder goes
    if any(have.get(f) != v for f, v in want.items()):
        return SetKey(table, key, dict(want), drop)
    return SetKey(table, key, _hdel_only(placeholder or bool(want)), drop)


def _hdel_only(keeps_a_field: bool) -> dict[str, str]:
    """Fields of a step that only drops fields: none (HDEL only, no needless HSET and no event for
    SONiC's managers), or the placeholder when the key would be left empty (Redis would delete it)."""
    return {} if keeps_a_field else {PLACEHOLDER: PLACEHOLDER}


def _field_update(
    table: str,
    key: str,
    want: Mapping[str, str],
    have: Mapping[str, str],
    owned: tuple[str, ...],
    *,
    placeholder: bool,
) -> SetKey | None:
    # Only owned fields: a placeholder of the switch's own key is not ours to drop (SONiC's `mod_entry`
    # leaves it beside the fields it writes too).
    changed = {f: v for f, v in want.items() if have.get(f) != v}
    drop = tuple(f for f in owned if f in have and f not in want)
    if not changed and not drop:
        return None
    if not changed:
        return SetKey(table, key, _hdel_only(placeholder or not set(have) <= set(drop)), drop)
    return SetKey(table, key, changed, drop)


def _wait(table: str, key: str, *, present: bool) -> list[StateWait]:
    if table == "INTERFACE":
        return [StateWait("INTERFACE_TABLE", key, present)]
    if table in STATE_TABLE:
        return [StateWait(STATE_TABLE[table], key, present)]
    return []


def plan_as_data(result: Plan, frr_labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The plan as JSON-ready data; an FRR config is shown by its label in `frr_labels` (or its text)."""
    labels = frr_labels or {}
    phases = []
    for phase in result.phases:
        ops: list[dict[str, Any]] = []
        for op in phase.ops:
            entry: dict[str, Any] = {"op": op.action, "key": f"{op.table}|{op.key}"}
            if isinstance(op, SetKey):
                entry["fields"] = dict(op.fields)
                if op.drop:
                    entry["drop"] = list(op.drop)
            ops.append(entry)
        waits = [{"table": w.table, "key": w.key, "present": w.present} for w in phase.waits]
        frr = None if phase.frr is None else labels.get(phase.frr, phase.frr)
        phases.append({"phase": phase.name, "frr": frr, "ops": ops, "waits": waits})
    return phases
