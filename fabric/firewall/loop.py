"""The firewall daemon's part of the shared loop (`fabric.runtime.loop`): what a sync and a status are.

Besides this firewall's `FirewallState` from `fabric api`, the loop follows one extra watch source per
Kubernetes kind (its reflector's list/watch steps, re-listing on 410 Gone inside) whose changes mark
dirty; bursts of events settle before a sync (`debounce`, at most `debounce_max`).  A sync compiles
the latest state and cached objects and applies them (`Syncer.sync`).  The heartbeat reads the drop
counters and BGP sessions.  Until the state and every kind have arrived nothing is applied, and no
status is reported before the first sync.  A failed sync, an unreachable API or cluster never touch
the table: the kernel keeps the last applied ruleset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from fabric.adapters.kube import ClusterCache
from fabric.errors import ApplyError, FabricError
from fabric.firewall.metrics import FirewallMetrics
from fabric.firewall.sync import Outcome, Syncer, Timer
from fabric.model import FirewallState
from fabric.model.status import BgpSession, FirewallStatus, SyncResult
from fabric.runtime import loop as runtime
from fabric.runtime.api import ApiSink, ApiSource, StateClient
from fabric.runtime.config import Timing

log = logging.getLogger(__name__)
KIND = "firewall"


def _state(document: object) -> FirewallState | None:
    """The API's document when it is a `FirewallState` (anything else is ignored)."""
    return document if isinstance(document, FirewallState) else None


@dataclass
class FirewallAttempt:
    """One sync of `state` and the cached `objects`; `timer` says which phase ran last."""

    syncer: Syncer
    state: FirewallState
    objects: list[dict[str, Any]]
    timer: Timer

    async def run(self) -> Outcome:
        return await self.syncer.sync(self.state, self.objects, self.timer)

    def deadline_error(self, seconds: float) -> ApplyError:
        return ApplyError(f"sync not done within {seconds}s", retryable=True, phase=self.timer.current)

    def failed(self, error: ApplyError) -> Outcome:
        runtime.log_failure(error)
        return self.syncer.failure(self.state, error, self.timer)


class Loop(runtime.Loop[FirewallState, Outcome, FirewallStatus]):
    """Runs `syncer` on the latest `FirewallState` from `api` and the objects in `cache`."""

    what = "FirewallState"
    metrics: FirewallMetrics

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
        source, sink = ApiSource(api, KIND, name, _state), ApiSink(api, KIND)
        initial = Outcome(SyncResult(applied_revision=0))
        metrics = metrics or FirewallMetrics()
        super().__init__(name, source, sink, timing=timing, metrics=metrics, initial=initial, notify=notify)
        self.cache, self.syncer = cache, syncer
        self.bgp: list[BgpSession] = []

    def revision(self, desired: FirewallState) -> int:
        return desired.revision

    def ready(self) -> bool:
        return self.cache.ready  # a partial view of the cluster would deny what it has not seen yet

    def watchers(self) -> Sequence[tuple[str, runtime.Step]]:
        return [(f"{r.spec.kind} list/watch failed", r.step) for r in self.cache.reflectors]

    def attempt(self, desired: FirewallState, deadline: float, resync: bool) -> FirewallAttempt:
        # Each kind's cached objects in the cache's own order (an object modified in place keeps its
        # place), not `ClusterCache.objects()`, which sorts 20,000 keys per sync: the compiler does
        # not depend on the order, and finds the changed objects of a stable listing by position.
        listing = list(chain.from_iterable(r.objects.values() for r in self.cache.reflectors))
        return FirewallAttempt(self.syncer, desired, listing, Timer())

    def sync_result(self, result: Outcome) -> SyncResult:
        return result.result

    def comparable(self, result: Outcome) -> tuple[object, ...]:
        r = result.result.model_copy(update={"phases": []})
        return (r, result.rules, result.elements, result.conditions)

    def recorded(self, desired: FirewallState, result: Outcome, seconds: float) -> None:
        for reflector in self.cache.reflectors:
            self.metrics.objects.labels(reflector.spec.kind).set(len(reflector.objects))
        r = result.result
        log.info(
            "sync %s: revision %d, %d elements, %s in %.3fs",
            "done" if r.ok else f"failed in {r.failing_phase}: {r.reason}",
            desired.revision,
            result.elements,
            result.mode or "nothing applied",
            seconds,
        )

    async def status(self) -> FirewallStatus | None:
        """The status of the last sync attempt (None before the first)."""
        if self.syncs == 0:
            return None
        o = self.last
        return FirewallStatus(
            name=self.name,
            sync=o.result,
            rules=o.rules,
            elements=o.elements,
            conditions=o.conditions,
            bgp=self.bgp,
        )

    async def beat(self) -> None:
        await self.read_drops()
        await self.read_bgp()

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
