"""What a switch holds after a plan, for tests that check a plan's result (e.g. against YANG)."""

from __future__ import annotations

from fabric.core.ops import DelKey, Plan
from fabric.core.tables import Tables


def after_plan(held: Tables, plan: Plan) -> Tables:
    """What the switch holds after `plan` (every phase's CONFIG_DB operations, in order)."""
    out = {table: {key: dict(fields) for key, fields in keys.items()} for table, keys in held.items()}
    for _, op in plan.ops():
        keys = out.setdefault(op.table, {})
        if isinstance(op, DelKey):
            keys.pop(op.key, None)
            continue
        fields = keys.setdefault(op.key, {})
        for name in op.drop:
            fields.pop(name, None)
        fields.update({k: v for k, v in op.fields.items() if k != "NULL"})
    return out
