"""The switch daemon's part of the shared loop (`fabric.runtime.loop`): what a sync and a status are.

A sync takes the latest `SwitchState` to the switch (`Syncer.sync`); the periodic resync's sync also
compares FRR's running config with what was applied (`verify_frr`).  At each heartbeat the loop marks
dirty when FRR restarted (its daemons' PIDs changed) so that its config is re-applied, and reports
status (ports, LLDP, BGP) built by `observe`; the first report, before any sync, registers the
switch's ports with the API.  A failing API never touches the switch: the loop keeps the last applied
config and waits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fabric.errors import ApplyError
from fabric.model.status import SwitchStatus, SyncResult
from fabric.model.switch import SwitchState
from fabric.runtime import loop as runtime
from fabric.runtime.config import Timing
from fabric.switch.apply import Progress, deadline_error
from fabric.switch.metrics import SwitchMetrics
from fabric.switch.sync import Syncer

log = logging.getLogger(__name__)

DesiredStateSource = runtime.Source[SwitchState]
StatusSink = runtime.Sink[SwitchStatus]


@dataclass
class SwitchAttempt:
    """One sync of `desired` by `syncer`; `progress` says where it was when the deadline struck."""

    syncer: Syncer
    desired: SwitchState
    progress: Progress
    verify_frr: bool

    async def run(self) -> SyncResult:
        return await self.syncer.sync(self.desired, self.progress, verify_frr=self.verify_frr)

    def deadline_error(self, seconds: float) -> ApplyError:
        return deadline_error(self.progress, seconds)

    def failed(self, error: ApplyError) -> SyncResult:
        runtime.log_failure(error)
        return self.syncer.failure(self.desired, error, self.progress)


class Loop(runtime.Loop[SwitchState, SyncResult, SwitchStatus]):
    """Runs `syncer` against `source` until cancelled; reports to `sink`."""

    def __init__(
        self,
        name: str,
        source: DesiredStateSource,
        syncer: Syncer,
        sink: StatusSink,
        *,
        observe: Callable[[SyncResult], Awaitable[SwitchStatus]],
        timing: Timing,
        metrics: SwitchMetrics | None = None,
        notify: Callable[[str], object] = lambda _m: None,
    ) -> None:
        initial = SyncResult(applied_revision=0)
        metrics = metrics or SwitchMetrics()
        super().__init__(name, source, sink, timing=timing, metrics=metrics, initial=initial, notify=notify)
        self.syncer, self.observe = syncer, observe

    def revision(self, desired: SwitchState) -> int:
        return desired.revision

    def attempt(self, desired: SwitchState, deadline: float, resync: bool) -> SwitchAttempt:
        return SwitchAttempt(self.syncer, desired, Progress(deadline=deadline), verify_frr=resync)

    def sync_result(self, result: SyncResult) -> SyncResult:
        return result

    def comparable(self, result: SyncResult) -> SyncResult:
        return result.model_copy(update={"phases": []})

    def recorded(self, desired: SwitchState, result: SyncResult, seconds: float) -> None:
        extra = {"revision": desired.revision, "seconds": round(seconds, 4), "ok": result.ok}
        log.info("sync %s", "done" if result.ok else "failed", extra=extra)

    async def status(self) -> SwitchStatus:
        """The last result plus what the switch observes (ports, LLDP, BGP)."""
        return await self.observe(self.last)

    async def beat(self) -> None:
        """Mark dirty when FRR restarted (a restart may bring it back with other config)."""
        try:
            restarted = await self.syncer.frr_restarted()
        except Exception as exc:  # observing is best effort; the next sync sees the real state
            log.warning("FRR identity unavailable: %s", exc)
            return
        if restarted:
            log.warning("FRR restarted; re-checking its config")
            self.dirty.set()
