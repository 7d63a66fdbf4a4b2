"""The level-triggered loop every fabric daemon runs: the only place that waits, retries and backs off.

Tasks share one one-slot "sync needed" flag (`asyncio.Event`), so bursts of events coalesce:
- the state watcher long-polls the desired state (resuming from the last revision; after a failure a
  plain GET first, which answers at once) and marks dirty on change;
- one follower per extra watch source of the daemon (`watchers`, e.g. the firewall's Kubernetes
  reflectors) runs its steps with backoff;
- the resync timer marks dirty every `resync_period` (jittered), repairing drift; the sync it causes
  is told so (`resync`);
- the worker, on dirty, lets a burst settle (`debounce` of quiet, at most `debounce_max`; 0 = none),
  then runs one sync of the *latest* desired state under one deadline (`asyncio.timeout_at`, which
  really cancels), reports status on change, and on a retryable error marks dirty again after an
  exponential backoff (events arriving meanwhile coalesce into that one retry);
- the heartbeat pings the systemd watchdog, lets the daemon observe its device (`beat`) and reports
  status periodically.
A status report that failed is sent again as soon as the API answers.  Nothing is applied before the
daemon is `ready`; an unreachable API never touches the device: it keeps what was applied.

**Crash policy** (both daemons): a sync that raises an `ApplyError` failed as the error says (retried
with backoff when retryable); another `FabricError` is input the daemon refuses (reported, not retried
until the desired state changes); anything else is a bug: logged with its traceback, reported as phase
`crash` and retried with backoff — a fabric keeps running past a bug that one input triggers — until
`CRASH_LIMIT` syncs in a row crashed, when the daemon exits non-zero so that systemd restarts it with
fresh state.

A daemon subclasses `Loop` and keeps only what is its own: what one sync does (`attempt`), what its
status says (`status`), how a result is judged and logged (`sync_result`, `comparable`, `recorded`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from fabric.errors import ApplyError, FabricError
from fabric.model.status import SyncResult
from fabric.runtime.backoff import Backoff
from fabric.runtime.config import Timing

log = logging.getLogger(__name__)
CRASH_LIMIT = 3  # syncs in a row that crashed before the daemon ends (systemd restarts it)

D = TypeVar("D")  # the desired state as the source delivers it
R = TypeVar("R")  # what one sync returns
S = TypeVar("S")  # the status the daemon reports
D_co = TypeVar("D_co", covariant=True)
R_co = TypeVar("R_co", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)
R_contra = TypeVar("R_contra", contravariant=True)

Step = Callable[[], Awaitable[None]]
"""One step of an extra watch source (e.g. a reflector's list or watch); raises when it failed."""


class Source(Protocol[D_co]):
    """Where the desired state comes from (the API's watch, or a file)."""

    async def get(self) -> D_co | None:
        """The current desired state (None: nothing usable yet)."""
        ...

    async def watch(self, since: int, wait: float) -> D_co | None:
        """A desired state newer than revision `since`, or None when none came within `wait` seconds."""
        ...


class Sink(Protocol[S_contra]):
    """Where status goes (the API, or a file)."""

    async def report(self, status: S_contra) -> None:
        """Deliver `status`; may raise (the loop logs it and sends again later)."""
        ...


class Gauge(Protocol):
    """A Prometheus gauge, as far as the loop uses it."""

    def set(self, value: float) -> None: ...


class Metrics(Protocol[R_contra]):
    """What the loop records: the desired revision, and each sync attempt."""

    @property
    def desired_revision(self) -> Gauge: ...

    def record(self, result: R_contra, seconds: float) -> None: ...


class Attempt(Protocol[R_co]):
    """One sync of one desired state, built by the daemon (`Loop.attempt`) around its own syncer."""

    async def run(self) -> R_co:
        """Sync; raises on failure (the loop turns what it catches into `failed`)."""
        ...

    def deadline_error(self, seconds: float) -> ApplyError:
        """The error of a sync cancelled by its deadline (naming where it was)."""
        ...

    def failed(self, error: ApplyError) -> R_co:
        """The result of a failed attempt (what `run` raised, as the crash policy makes it an
        `ApplyError`, or its `deadline_error`)."""
        ...


class Loop(abc.ABC, Generic[D, R, S]):
    """Runs a daemon's syncs of the latest desired state from `source`; reports to `sink`."""

    what = "desired state"  # what `source` delivers, for the log

    def __init__(
        self,
        name: str,
        source: Source[D],
        sink: Sink[S],
        *,
        timing: Timing,
        metrics: Metrics[R],
        initial: R,
        notify: Callable[[str], object] = lambda _m: None,
    ) -> None:
        self.name, self.source, self.sink = name, source, sink
        self.timing, self.metrics, self.notify = timing, metrics, notify
        self.dirty = asyncio.Event()
        self.synced = asyncio.Event()  # set after every sync attempt (tests and `plan` wait on it)
        self.desired: D | None = None
        self.last: R = initial
        self.syncs = 0
        self.resync_due = False  # the next sync is the periodic resync's (or its retry)
        self.unreported = False  # the last status report failed: send again when the API answers
        self._fresh = True  # the next fetch is a plain GET
        self.crashes = 0  # syncs in a row that raised something other than a FabricError

    # -- what a daemon provides ----------------------------------------------------------------------
    @abc.abstractmethod
    def revision(self, desired: D) -> int:
        """The revision of `desired` (the watch resumes from it)."""

    @abc.abstractmethod
    def attempt(self, desired: D, deadline: float, resync: bool) -> Attempt[R]:
        """One sync of `desired`, cancelled at `deadline` (`loop.time()`); `resync`: the periodic one."""

    @abc.abstractmethod
    def sync_result(self, result: R) -> SyncResult:
        """The `SyncResult` within `result` (ok, retryable, failing phase)."""

    @abc.abstractmethod
    def comparable(self, result: R) -> object:
        """`result` without what differs on every run (timings), for change detection."""

    @abc.abstractmethod
    def recorded(self, desired: D, result: R, seconds: float) -> None:
        """Called once a sync attempt is accounted in the metrics: log it (and the daemon's extras)."""

    @abc.abstractmethod
    async def status(self) -> S | None:
        """The status to report now (None: nothing to say yet); may raise (logged, sent again later)."""

    def ready(self) -> bool:
        """Whether everything a sync needs besides the desired state has arrived."""
        return True

    def watchers(self) -> Sequence[tuple[str, Step]]:
        """Extra watch sources as `(what failed, step)`: each step is repeated forever, with backoff."""
        return ()

    async def beat(self) -> None:
        """Observe the device at each heartbeat, before status is reported (must not raise)."""

    # -- running -------------------------------------------------------------------------------------
    async def run(self, *, watchdog: float | None = None) -> None:
        """Run until cancelled; `watchdog` is systemd's watchdog interval (pinged at least that often)."""
        await self.report()  # e.g. registers a switch's ports with the API before anything else
        self.notify("READY=1")
        tasks = [self._follow(f"{self.what} unavailable", self._fetch)]
        tasks += [self._follow(what, step) for what, step in self.watchers()]
        tasks += [self._resync(), self._work(), self._heartbeat(watchdog)]
        async with asyncio.TaskGroup() as group:
            for coro in tasks:
                group.create_task(coro)

    def _backoff(self) -> Backoff:
        return Backoff(self.timing.backoff_initial, self.timing.backoff_max)

    async def _follow(self, what: str, step: Step) -> None:
        """Repeat `step` forever; after a failure wait with backoff (the source may be down)."""
        backoff = self._backoff()
        while True:
            try:
                await step()
            except Exception as exc:  # a source down: keep what is applied, try again later
                delay = backoff.next()
                log.warning("%s, retrying in %.1fs: %s", what, delay, exc)
                await asyncio.sleep(delay)
                continue
            backoff.reset()

    async def _fetch(self) -> None:
        """One GET or long-poll of the desired state; marks dirty when it changed."""
        fresh, self._fresh = self._fresh, True  # stays set when this fetch fails
        if fresh or self.desired is None:
            desired = await self.source.get()
        else:
            desired = await self.source.watch(self.revision(self.desired), self.timing.watch_wait)
        self._fresh = False
        if self.unreported:
            await self.report()  # the API is back: tell it what happened meanwhile
        if desired is not None and desired != self.desired:
            self.desired = desired
            self.metrics.desired_revision.set(self.revision(desired))
            self.dirty.set()

    async def _resync(self) -> None:
        rng = random.Random()
        while True:
            jitter = self.timing.resync_period * self.timing.resync_jitter
            await asyncio.sleep(self.timing.resync_period + rng.uniform(-jitter, jitter))
            self.resync_due = True
            self.dirty.set()

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
        backoff = self._backoff()
        while True:
            await self.dirty.wait()
            await self._settle()
            if self.desired is None or not self.ready():
                continue
            resync, self.resync_due = self.resync_due, False
            result = self.sync_result(await self.sync_once(self.desired, resync=resync))
            if result.ok:
                backoff.reset()
                continue
            self.resync_due = self.resync_due or resync  # the retry resyncs in its place
            if result.retryable:
                delay = backoff.next()
                phase = result.failing_phase
                log.info("retrying in %.1fs (%s)", delay, phase, extra={"phase": phase})
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
                await self.beat()
                await self.report()

    # -- one sync ------------------------------------------------------------------------------------
    async def sync_once(self, desired: D, *, resync: bool = False) -> R:
        """One sync of `desired` under the deadline; returns (and reports, on change) its result."""
        deadline = asyncio.get_running_loop().time() + self.timing.sync_deadline
        attempt = self.attempt(desired, deadline, resync)
        start = time.monotonic()
        try:
            async with asyncio.timeout_at(deadline):
                result = await attempt.run()
            self.crashes = 0
        except TimeoutError:
            result = attempt.failed(attempt.deadline_error(self.timing.sync_deadline))
        except FabricError as exc:
            self.crashes = 0
            result = attempt.failed(as_apply_error(exc))
        except Exception as exc:
            result = attempt.failed(self.crashed(exc))
        seconds = time.monotonic() - start
        self.metrics.record(result, seconds)
        self.syncs += 1
        self.recorded(desired, result, seconds)
        changed = self.comparable(result) != self.comparable(self.last)
        self.last = result
        if changed or self.unreported:
            await self.report()
        self.synced.set()
        return result

    def crashed(self, error: Exception) -> ApplyError:
        """The crash policy (module doc): the failure to report, or `error` itself once the daemon must
        end."""
        self.crashes += 1
        log.error("sync crashed (%d in a row, limit %d)", self.crashes, CRASH_LIMIT, exc_info=error)
        if self.crashes >= CRASH_LIMIT:
            raise error
        return ApplyError(f"crash: {error!r}", retryable=True, phase="crash")

    async def report(self) -> None:
        """Send status; a failure is logged, and the report is sent again when the API answers."""
        try:
            status = await self.status()
            if status is None:
                return
            await self.sink.report(status)
            self.unreported = False
        except Exception as exc:  # status is best effort: never let it stop syncing
            self.unreported = True
            log.warning("status report failed: %s", exc)


def as_apply_error(error: FabricError) -> ApplyError:
    """`error` as a sync failure: an `ApplyError` as it is, other refusals (invalid input) not retried."""
    if isinstance(error, ApplyError):
        return error
    return ApplyError(str(error), retryable=False, phase="input")


def log_failure(error: FabricError) -> None:
    """Log a failed sync (with its phase and whether it is retried, for an `ApplyError`)."""
    extra = {"phase": error.phase, "retryable": error.retryable} if isinstance(error, ApplyError) else {}
    log.warning("sync failed: %s", error, extra=extra)


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it is gone."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
