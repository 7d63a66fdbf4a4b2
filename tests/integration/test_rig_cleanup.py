"""The rig leaves nothing behind: after `close()`, and after a run that was killed (SIGKILL).

These tests build their own short-lived `Rig`s on purpose (the subject is the rig's teardown), so they
do not use the module fixture.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from fabric.adapters.process import spawn
from lab.rig import Rig, clean_leftovers, find_ledgers, find_leftovers, list_netns, procs, veth, wait_until
from lab.rig.run import LEDGER_FILE

pytestmark = pytest.mark.needs("netns", "frr", "redis")

REPO = Path(__file__).resolve().parents[2]


def test_close_removes_everything_it_created() -> None:
    rig = Rig()
    a, b = rig.netns("a"), rig.netns("b")
    veth(a, "eth1", b, "eth1")
    frr = rig.frr(a)
    redis = rig.redis()
    sleeper = b.start(["sleep", "600"], what="sleep@b", hostname="b")
    scratch = rig.tempdir("scratch")
    mountpoint = scratch / "mnt"
    mountpoint.mkdir()
    rig.mount("tmpfs", mountpoint, fstype="tmpfs", options="size=1m")
    (mountpoint / "file").write_text("x")  # lives in the tmpfs: rm -r must not be what removes it

    ledger = rig.ledger
    pids = [(i.pid, i.start) for i in ledger.items if i.kind == "process" and i.pid is not None]
    tempdirs = [Path(i.ref) for i in ledger.items if i.kind == "tempdir"]
    assert len(pids) == 5  # zebra, bgpd, staticd, redis-server, sleep
    assert {frr.dir, redis.dir, scratch} <= set(tempdirs)
    assert sleeper.alive() and str(mountpoint) in procs.mountpoints()
    assert (ledger.path / LEDGER_FILE).exists()

    removed = rig.close()

    assert any(line.startswith("netns ") for line in removed)
    assert not [name for name in list_netns() if name.startswith(rig.prefix + "-")]
    assert [pid for pid, start in pids if procs.alive(pid, start)] == []
    assert not [m for m in procs.mountpoints() if m.startswith(str(scratch))]
    assert [d for d in tempdirs if d.exists()] == []
    assert not ledger.path.exists()
    assert rig.close() == []  # idempotent


def test_cleanup_tolerates_resources_already_gone() -> None:
    rig = Rig()
    ns = rig.netns("gone")
    sleeper = ns.start(["sleep", "600"], what="sleep@gone")
    scratch = rig.tempdir("gone")
    # Someone removed things behind the rig's back: the ledger still lists them.
    sleeper.stop()
    ns.delete()
    scratch.rmdir()
    rig.ledger.record(type(rig.ledger.items[0])("netns", rig.prefix + "-never"))
    rig.close()
    assert not rig.ledger.path.exists()


def test_killed_run_is_a_leftover_and_clean_leftovers_removes_it(tmp_path: Path) -> None:
    with Rig() as live:  # a concurrent, live run: never a leftover
        prefix, sleeper_pid, scratch = _crash_a_run(tmp_path / "child.out")

        leftovers = [ledger for ledger in find_leftovers() if ledger.prefix == prefix]
        assert len(leftovers) == 1
        assert live.prefix not in {ledger.prefix for ledger in find_leftovers()}
        ledger = leftovers[0]
        assert {item.kind for item in ledger.items} == {"netns", "process", "tempdir"}
        sleeper_start = next(i.start for i in ledger.items if i.pid == sleeper_pid)
        assert procs.alive(sleeper_pid, sleeper_start)  # the crash left its daemon running

        report = clean_leftovers(leftovers)

        assert f"{prefix}: process sleep@crash pid {sleeper_pid}" in report
        assert f"{prefix}: netns {prefix}-crash" in report
        assert not procs.alive(sleeper_pid, sleeper_start)
        assert f"{prefix}-crash" not in list_netns()
        assert not scratch.exists()
        assert prefix not in {ledger.prefix for ledger in find_ledgers()}
        assert clean_leftovers(leftovers) == []  # idempotent
        assert live.ledger.path.exists()  # the live run was not touched


def _crash_a_run(out: Path) -> tuple[str, int, Path]:
    """Run `_CRASHING_RUN` in a child, SIGKILL it once it has built its world; returns what it said."""
    child = spawn([sys.executable, "-c", _CRASHING_RUN], stdout_path=str(out))
    try:
        wait_until(lambda: out.exists() and out.read_text().endswith("\n"), timeout=15, what="child rig")
        prefix, pid_text, scratch_text = out.read_text().split()
        assert prefix in {ledger.prefix for ledger in find_ledgers()}
        assert prefix not in {ledger.prefix for ledger in find_leftovers()}  # its owner is alive
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return prefix, int(pid_text), Path(scratch_text)


# The child: a run that builds a namespace, a daemon in it and a temp dir, reports them, and then
# waits to be killed (without any chance to clean up).
_CRASHING_RUN = textwrap.dedent(
    f"""
    import signal, sys
    sys.path.insert(0, {str(REPO)!r})
    from lab.rig import Rig
    rig = Rig()
    ns = rig.netns("crash")
    sleeper = ns.start(["sleep", "600"], what="sleep@crash", hostname="crash")
    scratch = rig.tempdir("crash")
    print(rig.prefix, sleeper.pid, scratch, flush=True)
    signal.pause()
    """
)
