"""Execute a `Plan` phase by phase: FRR apply, one CONFIG_DB transaction, STATE_DB waits.

The executor does not retry and does not sleep: an error is raised as `ApplyError` naming the phase
and whether retrying can help; the loop decides what to do.  `Progress` tells the caller (whose
deadline may cancel us at any await) which phase and step was running when it was cancelled.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from fabric.adapters.configdb import SonicDb
from fabric.adapters.frr import FrrAdapter
from fabric.core.ops import Plan
from fabric.errors import ApplyError
from fabric.model.status import PhaseTiming


@dataclass
class Progress:
    """Where an execution is; read by the caller when the deadline cancels it."""

    phase: str = ""
    step: str = ""
    deadline: float | None = None  # loop.time() at which the sync is cancelled
    timings: list[PhaseTiming] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (for subprocess timeouts), None without a deadline."""
        if self.deadline is None:
            return None
        return max(self.deadline - asyncio.get_running_loop().time(), 0.1)

    @property
    def where(self) -> str:
        return f"{self.step}:{self.phase}" if self.step else self.phase


async def execute(plan: Plan, db: SonicDb, frr: FrrAdapter, progress: Progress) -> None:
    """Run every phase of `plan` in order; timings and FRR drift accumulate in `progress`.

    Within a phase: the FRR apply (if the phase carries a config) comes first, so withdrawing
    neighbours and VRF stanzas precedes deleting their interfaces; then the ops as one atomic write;
    then the STATE_DB waits that the next phase depends on.
    """
    last_frr = max((i for i, p in enumerate(plan.phases) if p.frr is not None), default=-1)
    for index, phase in enumerate(plan.phases):
        progress.phase = phase.name
        start = time.monotonic()
        if phase.frr is not None:
            progress.step = "frr"
            # Only the plan's last FRR config is verified (--test): an earlier one (the withdraw) is
            # replaced by it within this sync, and a delta that outlives the last is what drift means.
            verify = index == last_frr
            delta = await asyncio.to_thread(frr.apply, phase.frr, timeout=progress.remaining(), verify=verify)
            if verify:
                progress.drift = delta.lines()
            # Which way FRR was reached (the delta, or frr-reload.py as fallback) shows in the status.
            step = PhaseTiming(phase=f"{phase.name}:frr-{frr.last_path}", seconds=_since(start))
            progress.timings.append(step)
        if phase.ops:
            progress.step = "configdb"
            await db.apply_ops(phase)
        if phase.waits:
            progress.step = "state-wait"
            await db.wait_state(phase.waits, phase=phase.name)
        progress.step = ""
        progress.timings.append(PhaseTiming(phase=phase.name, seconds=_since(start)))


def _since(start: float) -> float:
    return round(time.monotonic() - start, 6)


def deadline_error(progress: Progress, seconds: float) -> ApplyError:
    """The error for a sync cancelled by its deadline: names the phase and step it was in."""
    return ApplyError(
        f"sync deadline of {seconds:g}s exceeded during {progress.step or 'planning'}",
        retryable=True,
        phase=progress.where or "sync",
    )
