"""The one crash policy of both daemons (`fabric.runtime.loop`): an `ApplyError` fails as it says, any
other `FabricError` is refused input (not retried), and a bug is reported as phase `crash` and retried
until `CRASH_LIMIT` syncs in a row crashed, when the daemon ends so that systemd restarts it.

A minimal daemon of the runtime loop (a test double: a sync that raises what the test gives it) drives
`sync_once` and `run` exactly as the switch and firewall daemons do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fabric.errors import ApplyError, FabricError, ValidationError
from fabric.model.status import SyncResult
from fabric.runtime import loop as runtime
from fabric.runtime.config import Timing


class _Gauge:
    def set(self, value: float) -> None:
        pass


class _Metrics:
    desired_revision = _Gauge()

    def record(self, result: SyncResult, seconds: float) -> None:
        pass


class _Source:
    async def get(self) -> int:
        return 1

    async def watch(self, since: int, wait: float) -> int | None:
        await asyncio.sleep(wait)
        return None


class _Sink:
    def __init__(self) -> None:
        self.reports: list[SyncResult] = []

    async def report(self, status: SyncResult) -> None:
        self.reports.append(status)


@dataclass
class _Attempt:
    outcome: Callable[[], None]

    async def run(self) -> SyncResult:
        self.outcome()
        return SyncResult(applied_revision=1)

    def deadline_error(self, seconds: float) -> ApplyError:
        return ApplyError("deadline", retryable=True, phase="sync")

    def failed(self, error: ApplyError) -> SyncResult:
        return SyncResult(
            applied_revision=0,
            ok=False,
            failing_phase=error.phase,
            reason=str(error),
            retryable=error.retryable,
        )


class _Daemon(runtime.Loop[int, SyncResult, SyncResult]):
    def __init__(self, outcomes: list[Callable[[], None]]) -> None:
        timing = Timing(backoff_initial=0.01, backoff_max=0.01, heartbeat=60, resync_period=600)
        super().__init__(
            "d", _Source(), _Sink(), timing=timing, metrics=_Metrics(), initial=SyncResult(applied_revision=0)
        )
        self.outcomes = outcomes

    def revision(self, desired: int) -> int:
        return desired

    def attempt(self, desired: int, deadline: float, resync: bool) -> _Attempt:
        return _Attempt(self.outcomes.pop(0) if self.outcomes else lambda: None)

    def sync_result(self, result: SyncResult) -> SyncResult:
        return result

    def comparable(self, result: SyncResult) -> object:
        return result

    def recorded(self, desired: int, result: SyncResult, seconds: float) -> None:
        pass

    async def status(self) -> SyncResult:
        return self.last


def _raise(error: Exception) -> Callable[[], None]:
    def outcome() -> None:
        raise error

    return outcome


async def test_each_kind_of_failure_is_reported_as_the_policy_says() -> None:
    daemon = _Daemon(
        [
            _raise(ApplyError("redis gone", retryable=True, phase="configdb:write")),
            _raise(ValidationError("ports[Ethernet0].vrf: not defined")),
            _raise(KeyError("a bug")),
            lambda: None,
        ]
    )
    applied = await daemon.sync_once(1)
    refused = await daemon.sync_once(1)
    crashed = await daemon.sync_once(1)
    assert (applied.failing_phase, applied.retryable) == ("configdb:write", True)
    assert (refused.failing_phase, refused.retryable) == ("input", False)
    assert (crashed.failing_phase, crashed.retryable) == ("crash", True)
    assert "KeyError('a bug')" in crashed.reason
    assert (await daemon.sync_once(1)).ok and daemon.crashes == 0  # a good sync resets the count


async def test_the_daemon_ends_after_crash_limit_syncs_in_a_row_crashed() -> None:
    bug = RuntimeError("the same bug every time")
    daemon = _Daemon([_raise(bug)] * (runtime.CRASH_LIMIT + 5))
    with pytest.raises(ExceptionGroup) as ended:  # run's task group: the worker ended it
        await asyncio.wait_for(daemon.run(), timeout=30)
    assert ended.value.exceptions == (bug,)
    assert daemon.crashes == runtime.CRASH_LIMIT
    # Reported (once: the same failure again is no change) before the daemon ended.
    reported = [r.failing_phase for r in daemon.sink.reports if not r.ok]  # type: ignore[attr-defined]
    assert reported == ["crash"]


def test_a_refusal_is_a_fabric_error_that_is_not_retried() -> None:
    error = runtime.as_apply_error(FabricError("no such VRF"))
    assert (error.phase, error.retryable, str(error)) == ("input", False, "input: no such VRF")
    kept = ApplyError("x", retryable=True, phase="frr:reload")
    assert runtime.as_apply_error(kept) is kept
