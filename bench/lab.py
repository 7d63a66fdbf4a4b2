"""The lab end to end: allocation request → both leaves report the new revision applied, and → the two
machines reach each other (m1 and m2 of mini.clab.yml into one tenant network), p50/p99 over allocate/free
cycles.  Side by side in one run on one lab: the switch daemons as shipped (the API's long-poll watch),
then the same daemons restarted with a 10-second polling source (`lab.polling`, metal-core's design).

`python -m bench lab`; `FABRIC_BENCH_LAB_CYCLES` (default 20) cycles per side.  Needs root, FRR, Redis.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lab import fabric_lab
from lab.control import Api, apply_file, stop
from lab.demo import (
    ALPHA,
    Allocation,
    allocate,
    demo_intent,
    fleet,
    free,
    lab_api,
    machine_ipv4,
    switches_converged,
)
from lab.rig import wait_until
from lab.rig.daemon import start_daemon
from lab.rig.run import Ledger
from lab.state import LabState
from lab.topology import named_copy

REPO = Path(__file__).resolve().parents[1]
NAME = "benchlab"
PAIR = (Allocation("machine", "m1", "alpha", (ALPHA,)), Allocation("machine", "m2", "alpha", (ALPHA,)))
LEAVES = ("leaf01", "leaf02")
POLL_S = 0.02


def declared_lab(name: str, tmp: Path) -> tuple[LabState, Api]:
    """Lab `name` up on mini.clab.yml with the demo's intent applied and every switch converged (the
    caller takes it down with `fabric_lab.down(name)`, also when this raises)."""
    fabric_lab.up(named_copy(REPO / "topologies" / "mini.clab.yml", name, tmp))
    state = LabState.load(name)
    api = lab_api(state)
    (tmp / "demo.yaml").write_text(yaml.safe_dump(demo_intent(name)))
    apply_file(api, tmp / "demo.yaml")
    wait_until(lambda: switches_converged(api), timeout=120, what="lab converged")
    return state, api


def _applied(api: Api, want: dict[str, int]) -> bool:
    rows = {r["name"]: r for r in fleet(api) if r["kind"] == "switch"}
    return all((rows[leaf]["applied_revision"] or 0) >= rev for leaf, rev in want.items())


def _reach(state: LabState, src_ip: str, dst_ip: str) -> bool:
    argv = ["ping", "-c1", "-W0.2", "-I", src_ip, dst_ip]
    return fabric_lab.exec_in(state.name, "m1", argv, timeout=5).ok


@dataclass
class Cycle:
    """One cycle's figures: seconds from the request until both leaves applied / m1 reaches m2, of
    that the API's allocate calls, and the leaves' sync log lines written meanwhile (for the
    breakdown: when each sync ran, and whether FRR fell back to frr-reload.py)."""

    applied: float
    reach: float
    calls: float
    start: float  # wall clock, as the daemons' logs are
    end: float


def cycle(state: LabState, api: Api) -> Cycle:
    """One allocation of both machines: seconds until both leaves applied it, and until m1 reaches m2;
    then both are freed and the fabric is back where it started."""
    wall, start = time.time(), time.perf_counter()
    for a in PAIR:
        allocate(api, a)
    calls = time.perf_counter() - start
    want = {r["name"]: r["desired_revision"] for r in fleet(api) if r["name"] in LEAVES}
    wait_until(lambda: _applied(api, want), timeout=120, interval=POLL_S, what="both leaves applied")
    applied = time.perf_counter() - start
    end = wall + applied
    src, dst = machine_ipv4(api, "m1"), machine_ipv4(api, "m2")
    wait_until(lambda: _reach(state, src, dst), timeout=120, interval=POLL_S, what="m1 reaches m2")
    reach = time.perf_counter() - start
    for a in PAIR:
        free(api, "machine", a.name)
    wait_until(lambda: switches_converged(api), timeout=120, interval=0.1, what="freed")
    wait_until(lambda: not _reach(state, src, dst), timeout=60, what="m1 no longer reaches m2")
    return Cycle(applied, reach, calls, wall, end)


def _log_lines(state: LabState) -> list[dict[str, Any]]:
    """Every JSON log line of the leaves' switch daemons (shipped and polling), with `leaf` and `t`."""
    lines: list[dict[str, Any]] = []
    for leaf in LEAVES:
        config = Path(state.node(leaf).switch_config or "")
        for path in (config.with_suffix(".log"), config.with_suffix(".polling.log")):
            for raw in path.read_text().splitlines() if path.exists() else []:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                stamp = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
                lines.append({**entry, "leaf": leaf, "t": stamp})
    return lines


def breakdown(cycles: list[Cycle], lines: list[dict[str, Any]]) -> str:
    """Where the seconds of 'request -> both leaves applied' go (medians over cycles): the API's
    allocate calls, the wait until the first sync of the cycle starts (watch delivery), the leaves
    syncing (first start to last end), and the report reaching the API; and how FRR was reached."""
    wait, sync, report, fallbacks, syncs = [], [], [], 0, 0
    for c in cycles:
        mine = [x for x in lines if c.start <= x["t"] <= c.end + 0.05]
        done = [x for x in mine if x.get("msg") == "sync done"]
        fallbacks += sum(1 for x in mine if "frr_fallback" in x)
        syncs += len(done)
        if not done:
            continue
        first = min(x["t"] - x["seconds"] for x in done)
        last = max(x["t"] for x in done)
        wait.append(first - c.start - c.calls)
        sync.append(last - first)
        report.append(c.end - c.start - (last - c.start))
    med = statistics.median
    return (
        f"  breakdown (p50): allocate calls {med(c.calls for c in cycles):.2f} s, until the first sync "
        f"starts {med(wait or [0]):.2f} s, leaves syncing {med(sync or [0]):.2f} s, report seen "
        f"{med(report or [0]):.2f} s; {syncs} syncs, {fallbacks} FRR fallbacks to frr-reload.py"
    )


def _to_polling(state: LabState) -> None:
    """Restart every switch daemon with the 10-second polling source (the baseline)."""
    ledger = Ledger.load(state.directory)
    for record in state.nodes.values():
        if "fabric-switch" not in record.daemons:
            continue
        stop(state, record.daemons, "fabric-switch")
        config = Path(record.switch_config or "")
        daemon = start_daemon(
            ledger,
            [sys.executable, "-m", "lab.polling", str(config)],
            what=f"polling-switch@{record.name}",
            log_path=config.with_suffix(".polling.log"),
        )
        record.daemons["fabric-switch"] = (daemon.pid, daemon.item.start)
    state.save()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _side(state: LabState, api: Api, cycles: int) -> list[Cycle]:
    return [cycle(state, api) for _ in range(cycles)]


def _report(cycles: int, ours: list[Cycle], base: list[Cycle], lines: list[dict[str, Any]]) -> None:
    print(f"{cycles} allocate/free cycles per side (m1+m2 into one tenant network, mini.clab.yml)")
    for what, field in (("request -> both leaves applied", "applied"), ("request -> m1 reaches m2", "reach")):
        o = [getattr(c, field) for c in ours]
        b = [getattr(c, field) for c in base]
        o50, o99, b50, b99 = _pct(o, 0.5), _pct(o, 0.99), _pct(b, 0.5), _pct(b, 0.99)
        print(
            f"{what}: long-poll p50 {o50:.2f} s p99 {o99:.2f} s | 10 s polling p50 {b50:.2f} s "
            f"p99 {b99:.2f} s | ratio p50 {b50 / o50:.1f}x p99 {b99 / o99:.1f}x "
            f"(mean ours {statistics.mean(o):.2f} s)"
        )
    print("long-poll side:")
    print(breakdown(ours, lines))
    print("10 s polling side:")
    print(breakdown(base, lines))


def main() -> None:
    """Run both sides and print p50/p99, the ratios and where the seconds go."""
    cycles = int(os.environ.get("FABRIC_BENCH_LAB_CYCLES", "20"))
    tmp = Path(tempfile.mkdtemp(prefix="benchlab-"))
    try:
        state, api = declared_lab(NAME, tmp)
        cycle(state, api)  # warm-up: cabling learned, first VRF plumbing done
        ours = _side(state, api, cycles)
        _to_polling(state)
        wait_until(lambda: switches_converged(api), timeout=120, what="polling daemons converged")
        base = _side(state, api, cycles)
        lines = _log_lines(LabState.load(NAME))
    finally:
        fabric_lab.down(NAME)
    _report(cycles, ours, base, lines)
