"""The level-triggered loop of `fabric firewall run`: the only place that waits, retries and backs off.

The shape of the switch daemon's loop.  Tasks share one one-slot "sync needed" flag (`asyncio.Event`):
- the state watcher long-polls `fabric api` for this firewall's `FirewallState` (resuming from the
  last revision) and marks dirty on change;
- one watcher per Kubernetes kind runs its reflector's list/watch steps (re-list on 410 Gone inside)
  and marks dirty on every change;
- the resync timer marks dirty every `resync_period` (jittered), repairing drift;
- the worker, on dirty, first lets a burst settle (`debounce` of quiet, at most `debounce_max`), then
  runs one sync of the *latest* state and objects under one deadline, reports status on change, and on
  a retryable error marks dirty again after an exponential backoff;
- the heartbeat pings the systemd watchdog, reads the drop counters and BGP sessions and reports
  status periodically.
Until the state and every kind have arrived nothing is applied.  A failed sync, an unreachable API or
cluster never touch the table: the kernel keeps the last applied ruleset.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fabric.adapters.kube import ClusterCache, Reflector
from fabric.errors import ApplyError, FabricError
from fabric.firewall.metrics import FirewallMetrics
from fabric.firewall.sync import Outcome, Syncer, Timer
from fabric.model import FirewallState
from fabric.model.status import BgpSession, FirewallStatus, SyncResult
from fabric.runtime.backoff import Backoff

log = logging.getLogger(__name__)


class StateClient(Protocol):
    """What the loop needs of `fabric.adapters.api_client.ApiClient`."""

    async def get_state(self, kind: str, name: str, etag: str | None = None) -> Any: ...
    async def watch_state(
        self, kind: str, name: str, since: int, wait: float, etag: str | None = None
    ) -> Any: ...
    async def post_status(self, kind: str, name: str, status: Any) -> None: ...


@dataclass
class Timing:
    """The loop's periods, all in seconds."""

    watch_wait: float = 30.0
    debounce: float = 0.2
    debounce_max: float = 2.0
    resync_period: float = 300.0
    resync_jitter: float = 0.2
    sync_deadline: float = 60.0
    heartbeat: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


class Loop:
    """Runs `syncer` on the latest `FirewallState` from `api` and the objects in `cache`."""

    def __init__(
        self,
        name: str,
        api: StateClient,
        cache: ClusterCache,
        syncer: Syncer,
        *,
        timing: Timing,
        metrics: FirewallMetrics | None = None,
        notify: Callable[[str], object] = lambda _m: None,
    ) -> None:
        self.name, self.api, self.cache, self.syncer = name, api, cache, syncer
        self.timing, self.notify = timing, notify
        self.metrics = metrics or FirewallMetrics()
        self.dirty = asyncio.Event()
        self.state: FirewallState | None = None
        self.last = Outcome(SyncResult(applied_revision=0))
        self.unreported = False
        self.syncs = 0
        self.bgp: list[BgpSession] = []
        self.synced = asyncio.Event()  # set after every sync attempt

    async def run(self, *, watchdog: float | None = None) -> None:
        """Run until cancelled."""
        self.notify("READY=1")
        tasks = [self._watch_state(), self._resync(), self._work(), self._heartbeat(watchdog)]
        tasks += [self._watch_kind(r) for r in self.cache.reflectors]
        async with asyncio.TaskGroup() as group:
            for coro in tasks:
                group.create_task(coro)

    # -- watchers ------------------------------------------------------------------------------------
    async def _watch_state(self) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        fresh = True  # after a failure, a plain GET first: it answers at once, the long-poll would wait
        while True:
            try:
                if fresh or self.state is None:
                    fetched = await self.api.get_state("firewall", self.name)
                else:
                    fetched = await self.api.watch_state(
                        "firewall", self.name, self.state.revision, self.timing.watch_wait
                    )
            except Exception as exc:  # the API down: keep what is applied, try again later
                delay = backoff.next()
                log.warning("FirewallState unavailable, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                fresh = True
                continue
            backoff.reset()
            fresh = False
            if self.unreported:
                await self.report()  # the API is back: tell it what happened meanwhile
            state = fetched.document
            if isinstance(state, FirewallState) and state != self.state:
                self.state = state
                self.metrics.desired_revision.set(state.revision)
                self.dirty.set()

    async def _watch_kind(self, reflector: Reflector) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        while True:
            try:
                await reflector.step()
            except Exception as exc:  # the cluster's API server down: the cache stays as it was
                delay = backoff.next()
                log.warning("%s list/watch failed, retrying in %.1fs: %s", reflector.spec.kind, delay, exc)
                await asyncio.sleep(delay)
                continue
            backoff.reset()

    async def _resync(self) -> None:
        rng = random.Random()
        while True:
            jitter = self.timing.resync_period * self.timing.resync_jitter
            await asyncio.sleep(self.timing.resync_period + rng.uniform(-jitter, jitter))
            self.dirty.set()

    # -- the worker ----------------------------------------------------------------------------------
    async def _settle(self) -> None:
        """Wait until no event came for `debounce` seconds (at most `debounce_max`): one sync per burst."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.timing.debounce_max
        while True:
            self.dirty.clear()
            left = min(self.timing.debounce, end - loop.time())
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.dirty.wait(), left)
            except TimeoutError:
                return

    async def _work(self) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        while True:
            await self.dirty.wait()
            await self._settle()
            self.dirty.clear()
            if self.state is None or not self.cache.ready:
                continue  # a partial view of the cluster would deny what it has not seen yet
            outcome = await self.sync_once(self.state)
            if outcome.result.ok:
                backoff.reset()
            elif outcome.result.retryable:
                delay = backoff.next()
                log.info("retrying in %.1fs (%s)", delay, outcome.result.failing_phase)
                await asyncio.sleep(delay)
                self.dirty.set()

    async def _heartbeat(self, watchdog: float | None) -> None:
        period = min(self.timing.heartbeat, watchdog) if watchdog else self.timing.heartbeat
        last = time.monotonic()
        while True:
            await asyncio.sleep(period)
            self.notify("WATCHDOG=1")
            if time.monotonic() - last >= self.timing.heartbeat:
                last = time.monotonic()
                await self.read_drops()
                await self.read_bgp()
                await self.report()

    # -- one sync ------------------------------------------------------------------------------------
    async def sync_once(self, state: FirewallState) -> Outcome:
        """One sync of `state` and the cached objects under the deadline; reports its result on change."""
        timer = Timer()
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.timing.sync_deadline):
                outcome = await self.syncer.sync(state, self.cache.objects(), timer)
        except TimeoutError:
            error = ApplyError(
                f"sync not done within {self.timing.sync_deadline}s", retryable=True, phase=timer.current
            )
            outcome = self._failed(state, error, timer)
        except FabricError as exc:
            outcome = self._failed(state, exc, timer)
        except Exception as exc:  # a bug must not end the daemon: report it, retry with backoff
            log.exception("sync crashed")
            outcome = self._failed(state, ApplyError(repr(exc), retryable=True, phase=timer.current), timer)
        seconds = time.monotonic() - start
        self.metrics.record(outcome, seconds)
        for reflector in self.cache.reflectors:
            self.metrics.objects.labels(reflector.spec.kind).set(len(reflector.objects))
        self.syncs += 1
        r = outcome.result
        log.info(
            "sync %s: revision %d, %d elements, %s in %.3fs",
            "done" if r.ok else f"failed in {r.failing_phase}: {r.reason}",
            state.revision,
            outcome.elements,
            outcome.mode or "nothing applied",
            seconds,
        )
        changed = _comparable(outcome) != _comparable(self.last)
        self.last = outcome
        if changed or self.unreported:
            await self.report()
        self.synced.set()
        return outcome

    def _failed(self, state: FirewallState, error: FabricError, timer: Timer) -> Outcome:
        log.warning("sync failed: %s", error)
        return self.syncer.failure(state, error, timer)

    def status(self) -> FirewallStatus:
        """The status of the last sync attempt."""
        o = self.last
        return FirewallStatus(
            name=self.name,
            sync=o.result,
            rules=o.rules,
            elements=o.elements,
            conditions=o.conditions,
            bgp=self.bgp,
        )

    async def report(self) -> None:
        """Send status to the API; a failure is logged and retried when the API answers again."""
        if self.syncs == 0:
            return
        try:
            await self.api.post_status("firewall", self.name, self.status())
            self.unreported = False
        except Exception as exc:  # status is best effort: never let it stop syncing
            self.unreported = True
            log.warning("status report failed: %s", exc)

    async def read_drops(self) -> None:
        """Refresh the drop counters from the kernel (absent table: nothing yet)."""
        try:
            self.metrics.drops.packets = await asyncio.to_thread(self.syncer.table.counters)
        except FabricError as exc:
            log.debug("drop counters unavailable: %s", exc)

    async def read_bgp(self) -> None:
        """Refresh the BGP sessions FRR reports (empty when FRR is not managed or does not answer)."""
        if self.syncer.routing is not None:
            self.bgp = await asyncio.to_thread(self.syncer.routing.bgp_sessions)


def _comparable(outcome: Outcome) -> tuple[object, ...]:
    """An outcome without timings (which differ on every run) for change detection."""
    r = outcome.result.model_copy(update={"phases": []})
    return (r, outcome.rules, outcome.elements, outcome.conditions)
