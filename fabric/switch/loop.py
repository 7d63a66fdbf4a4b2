"""The level-triggered loop of `fabric switch run`: the only place that waits, retries and backs off.

Four tasks share one one-slot "sync needed" flag (`asyncio.Event`):
- the watcher long-polls the desired state (resuming from the last revision) and marks dirty on change;
- the resync timer marks dirty every `resync_period` (jittered), repairing drift: that sync also compares
  FRR's running config with what was applied (`verify_frr`);
- the worker, on dirty, runs one sync of the *latest* desired state under one deadline
  (`asyncio.timeout`, which really cancels), reports status on change, and on a retryable error marks
  dirty again after an exponential backoff (events arriving meanwhile coalesce into that one retry);
- the heartbeat reports status (ports, LLDP, BGP) periodically, pings the systemd watchdog, and marks
  dirty when FRR restarted (its daemons' PIDs changed) so that its config is re-applied.
A failing API never touches the switch: the worker keeps the last applied config and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fabric.errors import ApplyError
from fabric.model.status import SwitchStatus, SyncResult
from fabric.runtime.backoff import Backoff
from fabric.switch.apply import Progress, deadline_error
from fabric.switch.metrics import SwitchMetrics
from fabric.switch.sync import Desired, Syncer

log = logging.getLogger(__name__)


class DesiredStateSource(Protocol):
    """Where the desired state comes from (the API watch, or a file)."""

    async def get(self) -> Desired:
        """The current desired state."""
        ...

    async def watch(self, since: int, wait: float) -> Desired | None:
        """A desired state newer than revision `since`, or None when none came within `wait` seconds."""
        ...


class StatusSink(Protocol):
    """Where status goes (the API, or a file)."""

    async def report(self, status: SwitchStatus) -> None:
        """Deliver `status`; may raise (the loop logs and carries on)."""
        ...


@dataclass
class Timing:
    """The loop's periods, all in seconds."""

    watch_wait: float = 30.0
    resync_period: float = 300.0
    resync_jitter: float = 0.2
    sync_deadline: float = 60.0
    heartbeat: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


class Loop:
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
        self.name, self.source, self.syncer, self.sink = name, source, syncer, sink
        self.observe, self.timing, self.notify = observe, timing, notify
        self.metrics = metrics or SwitchMetrics()
        self.dirty = asyncio.Event()
        self.verify_frr = False  # the next sync compares FRR's running config (set by the resync)
        self.latest: Desired | None = None
        self.last_result = SyncResult(applied_revision=0)
        self.synced = asyncio.Event()  # set after every sync attempt (tests and `plan` wait on it)
        self.syncs = 0

    async def run(self, *, watchdog: float | None = None) -> None:
        """Run until cancelled."""
        await self.report()  # registers the switch's ports with the API before anything else
        self.notify("READY=1")
        tasks = [self._watch(), self._resync(), self._work(), self._heartbeat(watchdog)]
        async with asyncio.TaskGroup() as group:
            for coro in tasks:
                group.create_task(coro)

    # -- tasks ---------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        while True:
            try:
                if self.latest is None:
                    desired: Desired | None = await self.source.get()
                else:
                    desired = await self.source.watch(self.latest.state.revision, self.timing.watch_wait)
            except Exception as exc:  # the API down: keep what is applied, try again later
                delay = backoff.next()
                log.warning("desired state unavailable, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if desired is not None and desired != self.latest:
                self.latest = desired
                self.metrics.desired_revision.set(desired.state.revision)
                self.dirty.set()

    async def _resync(self) -> None:
        rng = random.Random()
        while True:
            jitter = self.timing.resync_period * self.timing.resync_jitter
            await asyncio.sleep(self.timing.resync_period + rng.uniform(-jitter, jitter))
            self.verify_frr = True
            self.dirty.set()

    async def _work(self) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            if self.latest is None:
                continue
            verify, self.verify_frr = self.verify_frr, False
            result = await self.sync_once(self.latest, verify_frr=verify)
            if not result.ok:
                self.verify_frr = self.verify_frr or verify  # the retry verifies in its place
            if result.ok:
                backoff.reset()
            elif result.retryable:
                delay = backoff.next()
                log.info("retrying in %.1fs", delay, extra={"phase": result.failing_phase})
                await asyncio.sleep(delay)
                self.dirty.set()

    async def _heartbeat(self, watchdog: float | None) -> None:
        period = min(self.timing.heartbeat, watchdog) if watchdog else self.timing.heartbeat
        last = time.monotonic()
        while True:
            await asyncio.sleep(period)
            self.notify("WATCHDOG=1")
            if time.monotonic() - last >= self.timing.heartbeat:
                await self._check_frr()
                last = time.monotonic()
                await self.report()

    async def _check_frr(self) -> None:
        """Mark dirty when FRR restarted (a restart may bring it back with other config)."""
        try:
            restarted = await self.syncer.frr_restarted()
        except Exception as exc:  # observing is best effort; the next sync sees the real state
            log.warning("FRR identity unavailable: %s", exc)
            return
        if restarted:
            log.warning("FRR restarted; re-checking its config")
            self.dirty.set()

    # -- one sync ------------------------------------------------------------------------------------
    async def sync_once(self, desired: Desired, *, verify_frr: bool = False) -> SyncResult:
        """One sync of `desired` under the deadline; returns (and reports, on change) its result."""
        progress = Progress()
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        progress.deadline = loop.time() + self.timing.sync_deadline
        try:
            async with asyncio.timeout_at(progress.deadline):
                result = await self.syncer.sync(desired, progress, verify_frr=verify_frr)
        except TimeoutError:
            result = self._failed(desired, deadline_error(progress, self.timing.sync_deadline), progress)
        except ApplyError as exc:
            result = self._failed(desired, exc, progress)
        seconds = time.monotonic() - start
        self.metrics.record(result, seconds)
        self.syncs += 1
        extra = {"revision": desired.state.revision, "seconds": round(seconds, 4), "ok": result.ok}
        log.info("sync %s", "done" if result.ok else "failed", extra=extra)
        changed = _comparable(result) != _comparable(self.last_result)
        self.last_result = result
        if changed:
            await self.report()
        self.synced.set()
        return result

    def _failed(self, desired: Desired, error: ApplyError, progress: Progress) -> SyncResult:
        log.warning("sync failed: %s", error, extra={"phase": error.phase, "retryable": error.retryable})
        return self.syncer.failure(desired.state, error, progress)

    async def report(self) -> None:
        """Send status (the last result plus what the switch observes); a failure is only logged."""
        try:
            status = await self.observe(self.last_result)
            await self.sink.report(status)
        except Exception as exc:  # status is best effort: never let it stop syncing
            log.warning("status report failed: %s", exc)


def _comparable(result: SyncResult) -> SyncResult:
    """A result without timings (which differ on every run) for change detection."""
    return result.model_copy(update={"phases": []})


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it is gone."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
