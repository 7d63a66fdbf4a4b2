"""North-south in the lab: `make lab` from nothing to the north-south table, and a NetworkPolicy change
to the first packet of the newly allowed flow through fw01 (the firewall image in qemu, TCG, one vCPU).

1. **Lab up**: `fabric_lab.up` + `run_demo` (what `make lab` runs) on mini.clab.yml, the firewall image
   from the cache; the time of rebuilding the image's own stage (`fabric image build --force` over the
   cached base) is measured beside it: a machine without the cache pays that (plus the base, see
   `python -m bench image`).
2. **Policy → packet**: the egress policy is changed to allow tcp/81 and the flow m1 → internet:81 is
   tried (a new connection every 0.2 s) until its first packet passes; then the policy denies it again
   and the flow is tried until it is refused. Side by side, alternating, the same change picked up the
   naive way: the daemon restarted after the change (`systemctl restart fabric-firewall`, as a tool that
   re-renders and restarts on every change would). p50/p99 over `FABRIC_BENCH_NS_CHANGES` (default 20)
   changes per side; where the time goes is read from fw01's journal (each sync's own duration).

`python -m bench north_south`.  Needs root, FRR, Redis, qemu, the image's build tools.
"""

from __future__ import annotations

import functools
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from fabric.commands.image import firewall_unit
from fabric.image.build import build_image
from fabric.image.spec import firewall_spec
from lab import fabric_lab, north_south
from lab.demo import DemoReport, run_demo
from lab.fabric_lab import exec_in
from lab.rig import wait_until
from lab.state import LabState
from lab.topology import named_copy

MINI = Path(__file__).resolve().parents[1] / "topologies" / "mini.clab.yml"
NAME = "benchns"
SYNC = re.compile(r"sync done: revision \d+, \d+ elements, (\w+) in ([0-9.]+)s")


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} s / p99 {p99:.2f} s (n={len(ordered)})"


def _syncs(state: LabState, since: str) -> dict[str, list[float]]:
    journal = exec_in(
        state.name, "fw01", ["journalctl", "-u", "fabric-firewall", "-o", "cat", "--since", since]
    )
    out: dict[str, list[float]] = {}
    for m in SYNC.finditer(journal.stdout):
        out.setdefault(m.group(1), []).append(float(m.group(2)))
    return out


def changes(state: LabState, report: DemoReport, count: int) -> None:
    assert report.north_south is not None
    flow = report.north_south.flipped
    allowed, denied = (north_south.ALLOWED_PORT, flow.port), (north_south.ALLOWED_PORT,)
    ours: list[float] = []
    naive: list[float] = []
    since = exec_in(state.name, "fw01", ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    for _ in range(count):
        ours.append(north_south.flip(state, flow, allowed))
        north_south.apply_cluster(state, [north_south.egress_policy(denied)])
        wait_until(lambda: not north_south.passes(state, flow), timeout=120, interval=0.0, what="denied")
        start = time.monotonic()
        north_south.apply_cluster(state, [north_south.egress_policy(allowed)])
        exec_in(state.name, "fw01", ["systemctl", "restart", "fabric-firewall"], timeout=120)
        passes = functools.partial(north_south.passes, state, flow, north_south.PROBE_S)
        wait_until(passes, timeout=300, interval=0.0, what="passes after the restart")
        naive.append(time.monotonic() - start)
        north_south.apply_cluster(state, [north_south.egress_policy(denied)])
        wait_until(lambda: not north_south.passes(state, flow), timeout=120, interval=0.0, what="denied")
    syncs = _syncs(state, since)
    print(f"policy change -> first packet, watch (ours):      {_percentiles(ours)}")
    print(f"policy change -> first packet, restart (naive):   {_percentiles(naive)}")
    print(f"ratio (p50): {statistics.median(naive) / statistics.median(ours):.1f}x")
    for mode, seconds in sorted(syncs.items()):
        print(f"fw01's '{mode}' syncs meanwhile: {_percentiles(seconds)} each (the daemon's own log)")


def main() -> None:
    count = int(os.environ.get("FABRIC_BENCH_NS_CHANGES", "20"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        image = build_image(firewall_spec(firewall_unit())).image
        cached = time.monotonic() - start
        start = time.monotonic()
        state = fabric_lab.up(named_copy(MINI, NAME, Path(tmp)))
        try:
            up = time.monotonic() - start
            report = run_demo(LabState.load(NAME), Path(state.api_dir or tmp), lambda _text: None)
            total = time.monotonic() - start
            assert report.north_south is not None
            ok = all(o.as_expected for o in report.north_south.outcomes)
            print(
                f"lab up (image cached, {cached:.2f} s to find it): {up:.1f} s; "
                f"to the north-south table: {total:.1f} s"
            )
            print(
                f"north-south table as expected: {ok}; "
                f"policy flip in the demo {report.north_south.flip_seconds:.2f} s"
            )
            changes(LabState.load(NAME), report, count)
        finally:
            fabric_lab.down(NAME)
    start = time.monotonic()
    rebuilt = build_image(firewall_spec(firewall_unit()), force=True)
    print(
        f"image stage rebuilt (base cached): {time.monotonic() - start:.1f} s; "
        f"a lab without the cached image takes that much longer ({image.key} -> {rebuilt.image.key})"
    )
