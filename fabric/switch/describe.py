"""A plan as plain data for `fabric switch plan` (what would change, applying nothing)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fabric.core.guard import GuardLimits, guard
from fabric.core.ops import DelKey, Op, Plan
from fabric.core.tables import Tables


def describe_op(op: Op) -> str:
    """``set TABLE|key f=v ...`` / ``del TABLE|key``, one line."""
    if isinstance(op, DelKey):
        return f"del {op.table}|{op.key}"
    fields = " ".join(f"{k}={v}" for k, v in sorted(op.fields.items()))
    drop = " ".join(f"-{f}" for f in op.drop)
    return " ".join(x for x in (f"set {op.table}|{op.key}", fields, drop) if x)


def describe_plan(plan: Plan, tables: Tables, limits: GuardLimits, frr_delta: list[str]) -> dict[str, Any]:
    """Phases (ops, waits, whether FRR reloads), the FRR delta and the guard's verdict."""
    verdict = guard(plan, tables, limits)
    return {
        "phases": [
            {
                "name": p.name,
                "ops": [describe_op(op) for op in p.ops],
                "waits": [f"{w.table}|{w.key} {'present' if w.present else 'gone'}" for w in p.waits],
                "frr": p.frr is not None,
            }
            for p in plan.phases
        ],
        "frr_delta": frr_delta,
        "guard": asdict(verdict),
    }
