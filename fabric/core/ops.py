"""The plan's vocabulary: what the switch daemon executes, phase by phase.

`fabric.core.plan.plan(desired, observed)` produces a `Plan`; the switch daemon's apply executes it.
A phase is executed as: reload `frr` (when set), write `ops` as one Redis pipeline, then wait (within the
sync's deadline) until every `waits` entry holds in STATE_DB.  A plan never deletes and re-creates the
same key within one phase (SONiC's managers coalesce per key and could lose the delete).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class SetKey:
    """Make CONFIG_DB `table|key` hold `fields` (HSET), removing `drop` fields it holds but should not.

    No `fields` and no `drop`: a key without fields (SONiC's ``NULL`` placeholder is written).  No
    `fields` but a `drop`: an HDEL only, for a key that keeps other fields.
    """

    table: str
    key: str
    fields: Mapping[str, str]
    drop: tuple[str, ...] = ()
    action: Literal["set"] = "set"


@dataclass(frozen=True)
class DelKey:
    """Delete CONFIG_DB `table|key`."""

    table: str
    key: str
    action: Literal["del"] = "del"


Op = SetKey | DelKey


@dataclass(frozen=True)
class StateWait:
    """Wait until STATE_DB `table|key` exists (`present`) or is gone (not `present`)."""

    table: str
    key: str
    present: bool = True


@dataclass(frozen=True)
class Phase:
    """One step of a plan: an optional FRR reload, then CONFIG_DB ops in one pipeline, then waits."""

    name: str
    ops: tuple[Op, ...] = ()
    waits: tuple[StateWait, ...] = ()
    frr: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Plan:
    """Ordered phases that take a switch from what it holds to what its `SwitchState` asks."""

    phases: tuple[Phase, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(p.ops or p.frr is not None for p in self.phases)

    def ops(self) -> Iterator[tuple[Phase, Op]]:
        """Every op with the phase it belongs to, in execution order."""
        for phase in self.phases:
            for op in phase.ops:
                yield phase, op
