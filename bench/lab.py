"""The lab end to end: allocation request → both leaves report the new revision applied, and → the two
machines reach each other (m1 and m2 of mini.clab.yml into one tenant network), p50/p99 over allocate/free
cycles.  Side by side in one run on one lab: the switch daemons as shipped (the API's long-poll watch),
then the same daemons restarted with a 10-second polling source (`lab.polling`, the anchor's design).

`python -m bench lab`; `FABRIC_BENCH_LAB_CYCLES` (default 20) cycles per side.  Needs root, FRR, Redis.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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

REPO = Path(__file__).resolve().parents[1]
NAME = "benchlab"
PAIR = (Allocation("machine", "m1", "alpha", (ALPHA,)), Allocation("machine", "m2", "alpha", (ALPHA,)))
LEAVES = ("leaf01", "leaf02")
POLL_S = 0.02


def _applied(api: Api, want: dict[str, int]) -> bool:
    rows = {r["name"]: r for r in fleet(api) if r["kind"] == "switch"}
    return all((rows[leaf]["applied_revision"] or 0) >= rev for leaf, rev in want.items())


def _reach(state: LabState, src_ip: str, dst_ip: str) -> bool:
    argv = ["ping", "-c1", "-W0.2", "-I", src_ip, dst_ip]
    return fabric_lab.exec_in(state.name, "m1", argv, timeout=5).ok


def cycle(state: LabState, api: Api) -> tuple[float, float]:
    """One allocation of both machines: seconds until both leaves applied it, and until m1 reaches m2;
    then both are freed and the fabric is back where it started."""
    start = time.perf_counter()
    for a in PAIR:
        allocate(api, a)
    want = {r["name"]: r["desired_revision"] for r in fleet(api) if r["name"] in LEAVES}
    wait_until(lambda: _applied(api, want), timeout=120, interval=POLL_S, what="both leaves applied")
    applied = time.perf_counter() - start
    src, dst = machine_ipv4(api, "m1"), machine_ipv4(api, "m2")
    wait_until(lambda: _reach(state, src, dst), timeout=120, interval=POLL_S, what="m1 reaches m2")
    reach = time.perf_counter() - start
    for a in PAIR:
        free(api, "machine", a.name)
    wait_until(lambda: switches_converged(api), timeout=120, interval=0.1, what="freed")
    wait_until(lambda: not _reach(state, src, dst), timeout=60, what="m1 no longer reaches m2")
    return applied, reach


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


def _side(state: LabState, api: Api, cycles: int) -> tuple[list[float], list[float]]:
    results = [cycle(state, api) for _ in range(cycles)]
    return [a for a, _ in results], [r for _, r in results]


def main() -> None:
    """Run both sides and print p50/p99 and the ratios."""
    cycles = int(os.environ.get("FABRIC_BENCH_LAB_CYCLES", "20"))
    tmp = Path(tempfile.mkdtemp(prefix="benchlab-"))
    raw = yaml.safe_load((REPO / "topologies" / "mini.clab.yml").read_text())
    raw["name"] = NAME
    (tmp / "bench.clab.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    fabric_lab.up(tmp / "bench.clab.yml")
    try:
        state = LabState.load(NAME)
        api = lab_api(state)
        (tmp / "demo.yaml").write_text(yaml.safe_dump(demo_intent(NAME)))
        apply_file(api, tmp / "demo.yaml")
        wait_until(lambda: switches_converged(api), timeout=120, what="lab converged")
        cycle(state, api)  # warm-up: cabling learned, first VRF plumbing done
        ours = _side(state, api, cycles)
        _to_polling(state)
        wait_until(lambda: switches_converged(api), timeout=120, what="polling daemons converged")
        base = _side(state, api, cycles)
    finally:
        fabric_lab.down(NAME)
    print(f"{cycles} allocate/free cycles per side (m1+m2 into one tenant network, mini.clab.yml)")
    for i, what in enumerate(("request -> both leaves applied", "request -> m1 reaches m2")):
        o50, o99, b50, b99 = (
            _pct(ours[i], 0.5),
            _pct(ours[i], 0.99),
            _pct(base[i], 0.5),
            _pct(base[i], 0.99),
        )
        print(
            f"{what}: long-poll p50 {o50:.2f} s p99 {o99:.2f} s | 10 s polling p50 {b50:.2f} s "
            f"p99 {b99:.2f} s | ratio p50 {b50 / o50:.1f}x p99 {b99 / o99:.1f}x "
            f"(mean ours {statistics.mean(ours[i]):.2f} s)"
        )
