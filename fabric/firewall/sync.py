"""One sync of the firewall daemon: FirewallState + cluster objects → compile → nft → plumbing → FRR.

Phases, in order (the first failure ends the sync; its phase and reason go to the status):
`compile`, `nft` (the filter first: routes that appear later already meet it, and a refusal below
leaves the filter enforced), `frr:adopt` (FRR config the daemon did not write is not overwritten
without ``--adopt``: refused, not retryable, with the delta, before plumbing or FRR is touched),
`plumbing` (VRF, bridge and vxlan devices FRR needs, before FRR names them), `frr` (render,
`vtysh -C`, reload, empty `--test`), `plumbing:remove` (devices FRR no longer names, after it stopped
naming them).
Blocking work (parsing, compiling, `nft`) runs in a worker thread so the event loop keeps watching;
the loop owns the deadline, retries and backoff.  Compiling is incremental (`PolicyCompiler`): a sync
after one changed Service re-parses and recompiles that Service and re-formats only its own set
elements, and the apply is element-only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress
from operator import is_not
from typing import Any, TypeVar

from fabric.adapters.nft import Applied, NftTable
from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.ir import CompiledPolicy, Condition, Isolation
from fabric.core.policy.kube import Network
from fabric.core.policy.ruleset import Ruleset
from fabric.errors import ApplyError, FabricError
from fabric.firewall.pipeline import paused_gc
from fabric.firewall.routing import Routing
from fabric.model import FirewallState
from fabric.model.status import ObjectCondition, PhaseTiming, SyncResult
from fabric.render.nft import render_ruleset

Raw = dict[str, Any]
_A = TypeVar("_A")
_T = TypeVar("_T")
REASON_MAX = 4096


@dataclass
class Outcome:
    """What the last sync attempt left: the result, and what is in the kernel (counts, conditions)."""

    result: SyncResult
    rules: int = 0
    elements: int = 0
    conditions: list[ObjectCondition] = field(default_factory=list)
    mode: str = ""


class Timer:
    """Phase timings of one sync."""

    def __init__(self) -> None:
        self.phases: list[PhaseTiming] = []
        self.current = ""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.monotonic()
        try:
            yield
        finally:
            self.phases.append(PhaseTiming(phase=name, seconds=round(time.monotonic() - start, 6)))


def count_rules(ruleset: Ruleset) -> int:
    """Rules in the table's chains: the fixed ones (from its element-free skeleton, so this is cheap at
    any size) and the one rule of each profile's chain."""
    return fixed_rules(ruleset) + profile_rules(ruleset)


def profile_rules(ruleset: Ruleset) -> int:
    """One rule per profile chain (profiles come and go with elements, see `Ruleset.skeleton`)."""
    return sum(len(m.profiles) for m in ruleset.maps)


def fixed_rules(ruleset: Ruleset) -> int:
    """Rules in the chains of the table's skeleton."""
    rules, in_chain = 0, False
    for line in render_ruleset(ruleset.skeleton()).splitlines():
        text = line.strip()
        if text.startswith("chain ") and text.endswith("{"):
            in_chain = True
        elif text == "}":
            in_chain = False
        elif in_chain and text and not text.startswith(("type ", "#")):
            rules += 1
    return rules


def conditions_of(compiled: CompiledPolicy) -> list[ObjectCondition]:
    """The compiler's per-object conditions as status records."""
    return [_condition(c) for c in compiled.conditions]


def _condition(c: Condition) -> ObjectCondition:
    return ObjectCondition(object=c.object[:512], accepted=c.accepted, reason=c.reason[:REASON_MAX])


class ConditionRecords:
    """`conditions_of`, remembering each record by the very `Condition` it came from: an unchanged
    object keeps its `Condition` (and its place), so a sync after one change validates one record,
    not 20,000 (~4 us each), finding it by position in C; and the status lists compare equal by
    identity."""

    def __init__(self) -> None:
        self._conditions: list[Condition] = []
        self._records: list[ObjectCondition] = []

    def __call__(self, compiled: CompiledPolicy) -> list[ObjectCondition]:
        conditions = list(compiled.conditions)
        old, records = self._conditions, self._records
        if len(old) == len(conditions):
            records = list(records)
            for i in compress(range(len(conditions)), map(is_not, conditions, old)):
                records[i] = _condition(conditions[i])
        else:  # objects came or went: look the rest up by object id
            made = {c.object: (c, r) for c, r in zip(old, records, strict=True)}
            records = []
            for c in conditions:
                hit = made.get(c.object)
                records.append(hit[1] if hit is not None and hit[0] is c else _condition(c))
        self._conditions, self._records = conditions, records
        return list(records)


class Syncer:
    """Compiles and applies; keeps what was last applied (the kernel keeps it too when a sync fails)."""

    def __init__(self, table: NftTable, isolation: Isolation, routing: Routing | None = None) -> None:
        self.table, self.isolation, self.routing = table, isolation, routing
        self.compiler: PolicyCompiler | None = None
        self._prefixes: tuple[Network, ...] = ()
        self.applied = Outcome(SyncResult(applied_revision=0))
        self._rules: tuple[Ruleset, int] | None = None
        self._conditions = ConditionRecords()
        # A sync abandoned at its deadline may still be running nft in its thread: never two at once.
        self._lock = threading.Lock()

    async def sync(self, state: FirewallState, objects: list[Raw], timer: Timer) -> Outcome:
        """Compile `objects` under `state` and apply the ruleset; raises `ApplyError` on failure."""
        with timer.phase("compile"):
            compiled, ruleset = await asyncio.to_thread(self._compile, state, objects)
        with timer.phase("nft"):
            applied: Applied = await asyncio.to_thread(self._apply, ruleset)
        # After the table is loaded: the conditions' merge order (a sort of every object id, made on
        # first read) is not needed to build the ruleset.
        conditions = self._conditions(compiled)
        with timer.phase("count"):
            rules = self._count(ruleset)
        # The table is in the kernel now: a later phase's failure reports these counts and conditions.
        self.applied = Outcome(self.applied.result, rules, ruleset.elements, conditions, applied.mode)
        drift = await self._route(state, timer)
        result = SyncResult(
            applied_revision=state.revision,
            applied_hash=state.hash,
            attempted_revision=state.revision,
            drift=drift,
            phases=list(timer.phases),
        )
        self.applied = Outcome(result, rules, ruleset.elements, conditions, applied.mode)
        return self.applied

    async def _route(self, state: FirewallState, timer: Timer) -> list[str]:
        """Plumbing and FRR; returns FRR's drift (the last one when FRR was not reloaded this time)."""
        routing = self.routing
        if routing is None:
            return []
        if routing.checks_adoption:
            # Before plumbing: a foreign FRR config may rely on devices of the same names.
            with timer.phase("frr:adopt"):
                await asyncio.to_thread(self._locked, routing.check_adoption, state)
        with timer.phase("plumbing"):
            removals = await asyncio.to_thread(self._locked, routing.plumb, state)
        with timer.phase("frr"):
            drift = await asyncio.to_thread(self._locked, routing.configure, state)
        with timer.phase("plumbing:remove"):
            await asyncio.to_thread(self._locked, routing.unplumb, removals)
        return self.applied.result.drift if drift is None else drift

    def _locked(self, fn: Callable[[_A], _T], arg: _A) -> _T:
        with self._lock:  # never two kernel or FRR writers, even after a sync abandoned at its deadline
            return fn(arg)

    def failure(self, state: FirewallState, error: FabricError, timer: Timer) -> Outcome:
        """The status after a failed attempt: the last applied counts stay, the error is reported."""
        last = self.applied
        result = last.result.model_copy(
            update={
                "attempted_revision": state.revision,
                "ok": False,
                "failing_phase": getattr(error, "phase", "") or timer.current or "sync",
                "reason": str(error)[:REASON_MAX],
                "retryable": bool(getattr(error, "retryable", False)),
                "phases": list(timer.phases),
            }
        )
        return Outcome(result, last.rules, last.elements, last.conditions, "")

    def _compile(self, state: FirewallState, objects: list[Raw]) -> tuple[CompiledPolicy, Ruleset]:
        if not state.cluster_prefixes:
            raise ApplyError("the FirewallState has no cluster_prefixes", retryable=False, phase="compile")
        prefixes = tuple(state.cluster_prefixes)
        if self.compiler is None or prefixes != self._prefixes:
            # New cluster prefixes change every object's contribution: start from scratch.
            self.compiler, self._prefixes = PolicyCompiler(prefixes, self.isolation), prefixes
        with paused_gc():
            compiled = self.compiler.sync(objects)
            return compiled, self.compiler.ruleset(state)

    def _apply(self, ruleset: Ruleset) -> Applied:
        with self._lock:
            return self.table.apply(ruleset)

    def _count(self, ruleset: Ruleset) -> int:
        skeleton = ruleset.skeleton()
        if self._rules is None or self._rules[0] != skeleton:
            self._rules = (skeleton, fixed_rules(ruleset))
        return self._rules[1] + profile_rules(ruleset)
