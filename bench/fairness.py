"""Writers served in arrival order on SQLite: allocations by 8 and by 64 concurrent clients, with a
leaf's status reports (LLDP heartbeats) writing beside them.

The store runs in this process on SQLite (WAL, synchronous=FULL) over `bench/switch_e2e.py`'s fabric
(64 machines cabled to a leaf pair by LLDP reports).  Each client allocates and frees its own machines
through `Store`; one reporter posts the leaf's status in a loop.  Side by side in one run, on two fresh
databases: the store as shipped (`Database(fair=True)`: one in-process writer queue in arrival order)
and SQLite's own busy handler (`fair=False`: whichever waiting writer polls first wins).  Target: p99 ≤
3x p50 at 8 and at 64 clients; the status reports' p99 is printed too (they must not starve).  Then the
same load on PostgreSQL, where the store takes row locks and needs no queue.  `python -m bench fairness`.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.commit import ME, pct
from bench.switch_e2e import LEAF, UPLINK, VRFS, declare, mac
from fabric.adapters.api_client import ApiClient
from fabric.adapters.store.bodies import MachineAllocate
from fabric.adapters.store.engine import Database
from fabric.adapters.store.service import Store
from fabric.api.app import build_app, prepare
from fabric.model.status import LldpNeighbour, SwitchStatus, SyncResult

OPS = 512  # allocations and frees per run, spread over the clients


def leaf_report(n: int, leaf: str) -> SwitchStatus:
    heard = [LldpNeighbour(port=f"Ethernet{4 * i}", port_id=mac(i, n)) for i in range(VRFS)]
    heard.append(LldpNeighbour(port=UPLINK, sys_name="spine01", port_id=f"Ethernet{4 * n}"))
    return SwitchStatus(name=leaf, sync=SyncResult(applied_revision=0), lldp=heard)


async def fabric(url: str) -> None:
    """Declare and cable the fabric through an API in this process (then let it go)."""
    token = "fab_bench_" + "x" * 32
    db = await prepare(url, token)
    runner = web.AppRunner(build_app(db), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ApiClient(f"http://127.0.0.1:{port}", token, timeout=300) as api:
            await declare(api)
            for n, leaf in enumerate((LEAF, "leaf02")):
                await api.post_status("switch", leaf, leaf_report(n, leaf))
    finally:
        await runner.cleanup()


async def contend(store: Store, clients: int) -> tuple[list[float], list[float]]:
    """Every client allocates and frees its machines until OPS operations are done; the reporter posts
    leaf01's status meanwhile.  Per-operation latencies of both."""
    ops: list[float] = []
    reports: list[float] = []
    done = asyncio.Event()
    mine = [list(range(c, VRFS, clients)) for c in range(clients)]
    rounds = max(1, OPS // (2 * VRFS))

    async def client(machines: list[int]) -> None:
        for _ in range(rounds):
            for verb in ("allocate", "free"):
                for i in machines:
                    start = time.perf_counter()
                    if verb == "allocate":
                        body = MachineAllocate(project=f"p{i}", networks=[f"net{i}"])
                        await store.allocate_machine(ME, f"m{i}", body)
                    else:
                        await store.free(ME, f"m{i}")
                    ops.append(time.perf_counter() - start)

    async def reporter() -> None:
        status = leaf_report(0, LEAF)
        while not done.is_set():
            start = time.perf_counter()
            await store.report_status(ME, "switch", status)
            reports.append(time.perf_counter() - start)

    beside = asyncio.create_task(reporter())
    await asyncio.gather(*(client(m) for m in mine))
    done.set()
    await beside
    return ops, reports


async def side(fair: bool, clients: int, url: str | None = None) -> dict[str, Any]:
    url = url or f"sqlite:///{tempfile.mkdtemp(prefix='fabric-bench-fair-')}/fabric.db"
    await fabric(url)
    db = Database(url, fair=fair)
    try:
        start = time.perf_counter()
        ops, reports = await contend(Store(db), clients)
        seconds = time.perf_counter() - start
    finally:
        await db.close()
    return {
        "p50": pct(ops, 0.5),
        "p99": pct(ops, 0.99),
        "max": max(ops) * 1000,
        "rate": len(ops) / seconds,
        "reports": (pct(reports, 0.5), pct(reports, 0.99), len(reports)),
    }


def show(name: str, r: dict[str, Any]) -> None:
    rp50, rp99, n = r["reports"]
    spread = r["p99"] / r["p50"]
    print(
        f"   {name:<34} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  (p99/p50 {spread:4.1f}x, "
        f"max {r['max']:.0f} ms)  {r['rate']:5.1f} ops/s; status reports p50 {rp50:.1f} / p99 {rp99:.1f} ms "
        f"(n={n})"
    )


async def run() -> None:
    for clients in (8, 64):
        print(
            f"-- {OPS // (2 * VRFS) * 2 * VRFS} allocate/free operations by {clients} clients, SQLite, "
            "a leaf's status reports beside them"
        )
        ours = await side(True, clients)
        naive = await side(False, clients)
        show("writer queue in arrival order (ours)", ours)
        show("SQLite's busy handler", naive)
        print(
            f"   p99: {naive['p99'] / ours['p99']:.1f}x lower with the queue; target p99 <= 3x p50: "
            f"{'met' if ours['p99'] <= 3 * ours['p50'] else 'missed'} ({ours['p99'] / ours['p50']:.1f}x)"
        )


async def run_pg(instance: Any) -> None:
    """PostgreSQL locks rows (each project's pool apart): the store as shipped, no queue needed."""
    for clients in (8, 64):
        print(f"-- the same by {clients} clients, PostgreSQL 15 (fsync on)")
        ours = await side(True, clients, instance.createdb(f"fair_{clients}_{secrets.token_hex(3)}"))
        show("row locks (ours)", ours)
        print(
            f"   target p99 <= 3x p50: {'met' if ours['p99'] <= 3 * ours['p50'] else 'missed'} "
            f"({ours['p99'] / ours['p50']:.1f}x)"
        )


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "api"))
    import pg

    asyncio.run(run())
    why = pg.available()
    if why is not None:
        print(f"-- PostgreSQL skipped: {why}")
        return
    instance = pg.start(fsync=True)
    try:
        asyncio.run(run_pg(instance))
    finally:
        instance.stop()


if __name__ == "__main__":
    main()
