"""One sync: observe the switch, plan, check safety, execute, and say what happened.

Order of the checks before anything is written: pause (maintenance) → preconditions (VTEP, loopback,
PXE VLAN, ports, split mode, FRR version) → planner → ownership of every key → adoption of foreign FRR
config → guard.  Any refusal raises `ApplyError` with the phase that refused; nothing was written.

FRR is compared with what it runs, not only with the file last applied (level-triggered): FRR may have
restarted on its own and come back with other config.  Before planning, when FRR's identity (its
daemons' PIDs) differs from the one seen at the last successful sync, or when the caller asks (the
periodic resync), ``frr-reload.py --test`` of the last good file is run; a delta other than the drift
left by the last successful reload makes the planner see no applied FRR config, so the plan reloads it.
A delta that persists after a successful reload is drift: reported, and not reloaded again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fabric.adapters.adoption import check_adoption
from fabric.adapters.configdb import SonicDb
from fabric.adapters.frr import LAST_GOOD, FrrAdapter
from fabric.core.guard import GuardLimits, guard, missing_preconditions, not_owned
from fabric.core.ops import Plan
from fabric.core.tables import Tables
from fabric.errors import ApplyError
from fabric.model.status import SyncResult
from fabric.model.switch import SwitchState
from fabric.switch.apply import Progress, execute

log = logging.getLogger(__name__)

Planner = Callable[[SwitchState, Tables, str | None, str | None], Plan]
"""`(desired state, observed CONFIG_DB tables, FRR config last applied, FRR release) -> Plan`
(see planner.py)."""


def final_frr(plan: Plan) -> str | None:
    """The FRR config of the plan's last phase that carries one (what FRR ends up running)."""
    texts = [p.frr for p in plan.phases if p.frr is not None]
    return texts[-1] if texts else None


class Syncer:
    """Takes one `SwitchState` to the switch; keeps what was last applied for status."""

    def __init__(
        self,
        db: SonicDb,
        frr: FrrAdapter,
        planner: Planner,
        limits: GuardLimits,
        *,
        adopt: bool = False,
        force: bool = False,
    ) -> None:
        self.db, self.frr, self.planner, self.limits = db, frr, planner, limits
        self.adopt, self.force = adopt, force
        self.applied_revision = 0
        self.applied_hash = ""
        self.frr_seen: str | None = None  # FRR's identity when it last ran what was applied
        self.frr_drift: list[str] = []  # the delta a successful reload left (drift, not re-applied)
        self._frr_now: str | None = None  # FRR's identity read by the sync in progress

    async def prepare(self, state: SwitchState, *, verify_frr: bool = False) -> tuple[Plan, Tables]:
        """Observe and plan, running every safety check; raises `ApplyError` on a refusal.

        `verify_frr` compares FRR's running config with the last good file even when FRR has not
        restarted (the periodic resync does, catching edits made with vtysh).
        """
        # `show version` is asked on every sync: it is also the probe that FRR answers at all (pid files
        # outlive a crashed FRR, so the identity alone cannot tell).  The three reads run side by side.
        tables, self._frr_now, version = await asyncio.gather(
            self.db.read_tables(), asyncio.to_thread(self.frr.identity), asyncio.to_thread(self.frr.version)
        )
        missing = missing_preconditions(state, tables, version)
        if missing:
            raise ApplyError("; ".join(missing), retryable=True, phase="preconditions")
        last_frr = await asyncio.to_thread(self.frr.last_good)
        if last_frr is not None and not await self._frr_runs_last_good(verify_frr):
            last_frr = None  # the planner then reloads the whole desired FRR config
        plan = self.planner(state, tables, last_frr, version)
        foreign = not_owned(plan, state)
        if foreign:
            raise ApplyError(
                f"plan touches keys the daemon does not own: {', '.join(foreign[:10])}",
                retryable=False,
                phase="plan",
            )
        return plan, tables

    async def _frr_runs_last_good(self, verify: bool) -> bool:
        """Whether FRR runs the last good file (up to known drift); asks FRR only when needed."""
        if not verify and self._frr_now is not None and self._frr_now == self.frr_seen:
            return True
        delta = (await asyncio.to_thread(self.frr.verify, LAST_GOOD)).lines()
        if not delta or delta == self.frr_drift:
            return True
        restarted = self.frr_seen is not None and self._frr_now != self.frr_seen
        log.warning(
            "FRR does not run the config last applied%s; reloading it",
            " (FRR restarted)" if restarted else "",
            extra={"frr_delta_lines": len(delta)},
        )
        return False

    async def frr_restarted(self) -> bool:
        """True when FRR runs again under another identity than at the last successful sync."""
        if self.frr_seen is None:
            return False  # nothing applied yet: the next sync verifies anyway
        now = await asyncio.to_thread(self.frr.identity)
        return now is not None and now != self.frr_seen

    async def check_adoption(self, plan: Plan) -> None:
        """Refuse (once, with the delta) to overwrite FRR config the daemon did not write."""
        text = final_frr(plan)
        if text is not None:
            await asyncio.to_thread(check_adoption, self.frr, text, adopt=self.adopt)

    async def sync(self, state: SwitchState, progress: Progress, *, verify_frr: bool = False) -> SyncResult:
        """Apply `state` (nothing while it is `paused`); returns the result, raises `ApplyError` on failure
        or refusal."""
        if state.paused:
            return self.result(state, paused=True)
        plan, tables = await self.prepare(state, verify_frr=verify_frr)
        await self.check_adoption(plan)
        verdict = guard(plan, tables, self.limits)
        if verdict.refused and not self.force:
            raise ApplyError(f"guard: {verdict.reason}", retryable=False, phase="guard")
        progress.drift = list(self.frr_drift)  # replaced when a phase reloads FRR
        await execute(plan, self.db, self.frr, progress)
        self.applied_revision, self.applied_hash = state.revision, state.hash
        self.frr_seen, self.frr_drift = self._frr_now, list(progress.drift)
        return self.result(state, progress=progress)

    def result(
        self, state: SwitchState, *, progress: Progress | None = None, paused: bool = False
    ) -> SyncResult:
        """A successful (or paused) `SyncResult` for `state`."""
        return SyncResult(
            applied_revision=self.applied_revision,
            applied_hash=self.applied_hash,
            attempted_revision=state.revision,
            ok=True,
            paused=paused,
            drift=progress.drift if progress else [],
            phases=progress.timings if progress else [],
        )

    def failure(self, state: SwitchState, error: ApplyError, progress: Progress) -> SyncResult:
        """The `SyncResult` of a failed attempt: what stays applied, where and why it failed."""
        return SyncResult(
            applied_revision=self.applied_revision,
            applied_hash=self.applied_hash,
            attempted_revision=state.revision,
            ok=False,
            failing_phase=error.phase[:64],
            reason=str(error)[:4096],
            retryable=error.retryable,
            drift=progress.drift,
            phases=progress.timings,
        )
