"""The API commit of a one-VRF change on a 64-VRF leaf pair, on SQLite: through the store and HTTP.

The state is `bench/switch_e2e.py`'s (`declare`, the leaves' LLDP, 63 machines allocated to 63
projects); one change allocates the 64th machine into its project's network (a 64th VRF on both leaves)
or frees it again.  The API runs in this process (`build_app` on an aiohttp site on loopback) so the
same store can also be driven directly.  Measured side by side in one run, p50/p99:

- the store intent (`Store.allocate_machine` / `Store.free`: one transaction, three documents whose
  records are read in batches, once for both leaves),
- the same intent reading the records machine by machine for each document (`Store(db,
  batched=False)`: the way before, 6+ statements per cabled machine and leaf),
- the HTTP request (`POST /v1/machines/m63/allocate` / `free`, request → response),
- the durable floor: one single-row transaction on the same engine,
- the leaf's status report after such a change (`POST /v1/switches/leaf01/status`: 65 ports, 65 LLDP
  neighbours, 64 BGP sessions, the cabling unchanged),
- watch delivery: from the commit's response to a long-polling watcher of leaf01 holding the new
  revision (`GET /v1/switches/leaf01/state?since=REV&wait=30`).

`BENCH_COMMIT_PROFILE=1` also prints a cProfile of the store intents (the top functions by own time).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bench.switch_e2e import LEAF, UPLINK, VRFS, declare, mac
from fabric.adapters.api_client import ApiClient
from fabric.adapters.store.bodies import MachineAllocate
from fabric.adapters.store.service import Store
from fabric.adapters.store.tokens import Principal
from fabric.api.app import build_app, prepare
from fabric.api.context import CONTEXT
from fabric.model.status import LldpNeighbour, SwitchStatus, SyncResult

N = 40  # changes per way (allocate and free alternate)
ME = Principal("bench", "admin")
LAST = f"m{VRFS - 1}"
BODY = {"project": f"p{VRFS - 1}", "networks": [f"net{VRFS - 1}"]}


def pct(samples: list[float], q: float) -> float:
    """The q-quantile of `samples`, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


CPU: dict[int, float] = {}  # id of a `timed` result -> median CPU seconds per call (this process)


async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> list[float]:
    """Run `fn(i)` n times; the wall duration of each (the median CPU time noted in `CPU`)."""
    out, cpu = [], []
    for i in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        await fn(i)
        out.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[id(out)] = statistics.median(cpu)
    return out


async def populate(api: ApiClient) -> None:
    """`switch_e2e`'s fabric: declared, both leaves cabled, 63 of 64 machines allocated."""
    await declare(api)
    for n, leaf in enumerate((LEAF, "leaf02")):
        heard = [LldpNeighbour(port=f"Ethernet{4 * i}", port_id=mac(i, n)) for i in range(VRFS)]
        heard.append(LldpNeighbour(port=UPLINK, sys_name="spine01", port_id=f"Ethernet{4 * n}"))
        await api.post_status(
            "switch", leaf, SwitchStatus(name=leaf, sync=SyncResult(applied_revision=0), lldp=heard)
        )
    for i in range(VRFS - 1):
        await api.request(
            "POST", f"/v1/machines/m{i}/allocate", {"project": f"p{i}", "networks": [f"net{i}"]}
        )


def store_change(store: Store) -> Callable[[int], Awaitable[object]]:
    """Allocate (even i) or free (odd i) the 64th machine through `store`."""
    body = MachineAllocate.model_validate(BODY)

    async def run(i: int) -> object:
        if i % 2 == 0:
            return await store.allocate_machine(ME, LAST, body)
        return await store.free(ME, LAST)

    return run


def http_change(api: ApiClient) -> Callable[[int], Awaitable[object]]:
    """The same change as HTTP requests."""

    async def run(i: int) -> object:
        if i % 2 == 0:
            return await api.request("POST", f"/v1/machines/{LAST}/allocate", BODY)
        return await api.request("POST", f"/v1/machines/{LAST}/free")

    return run


def floor(store: Store) -> Callable[[int], Awaitable[object]]:
    """One durable single-row transaction (an audit entry) on the same engine."""
    from sqlalchemy import insert

    from fabric.adapters.store.schema import Audit

    async def run(i: int) -> object:
        async def tx(s: Any) -> None:
            await s.execute(insert(Audit).values(at=time.time(), who="bench", action="floor", target=str(i)))

        return await store.db.transaction(tx)

    return run


def leaf_status(revision: int) -> SwitchStatus:
    """What the leaf's daemon reports once it applied `revision` (its cabling as before)."""
    from fabric.model.status import BgpSession, PortStatus

    ports = [f"Ethernet{4 * i}" for i in range(VRFS)] + [UPLINK]
    heard = [LldpNeighbour(port=f"Ethernet{4 * i}", port_id=mac(i)) for i in range(VRFS)]
    heard.append(LldpNeighbour(port=UPLINK, sys_name="spine01", port_id="Ethernet0"))
    bgp = [BgpSession(vrf=f"Vrf{i}", peer=f"Ethernet{4 * i}", state="Established") for i in range(VRFS)]
    return SwitchStatus(
        name=LEAF,
        sync=SyncResult(applied_revision=revision),
        ports=[PortStatus(name=p, oper="up") for p in ports],
        lldp=heard,
        bgp=bgp,
    )


def status_report(api: ApiClient) -> Callable[[int], Awaitable[object]]:
    """The leaf reporting an applied revision (nothing else changed)."""

    async def run(i: int) -> object:
        await api.post_status("switch", LEAF, leaf_status(1000 + i))
        return None

    return run


async def watch_delivery(api: ApiClient, n: int) -> list[float]:
    """Commit response → a parked watcher of leaf01 answered with the new revision, `n` times."""
    change = http_change(api)
    out = []
    for i in range(n):
        since = (await api.get_state("switch", LEAF)).revision or 0
        watcher = asyncio.ensure_future(api.watch_state("switch", LEAF, since, 30))
        await asyncio.sleep(0.02)  # the watcher parks (its read of the document is done)
        await change(i)
        committed = time.perf_counter()
        fetched = await watcher
        out.append(time.perf_counter() - committed)
        assert fetched.revision is not None and fetched.revision > since
    return out


async def statements(store: Store) -> int:
    """SQL statements of one allocate and one free through `store` (BEGIN and COMMIT included)."""
    from sqlalchemy import event

    count = 0

    def counted(*_: object) -> None:
        nonlocal count
        count += 1

    engine = store.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        await timed(2, store_change(store))
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def show(name: str, samples: list[float]) -> float:
    p50 = statistics.median(samples) * 1000
    cpu = f"   CPU p50 {CPU[id(samples)] * 1000:7.1f} ms" if id(samples) in CPU else ""
    print(f"   {name:<44} p50 {p50:7.1f} ms   p99 {pct(samples, 0.99):7.1f} ms{cpu}")
    return p50


async def run() -> None:
    path = tempfile.mkdtemp(prefix="fabric-bench-commit-")
    token = "fab_bench_" + "x" * 32
    db = await prepare(f"sqlite:///{path}/commit.db", token)
    app = build_app(db)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    store = app[CONTEXT].store
    before = Store(db, listener=store.listener, batched=False)
    try:
        async with ApiClient(f"http://127.0.0.1:{port}", token, timeout=300) as api:
            await populate(api)
            print(f"-- commit of a one-VRF change on a {VRFS}-VRF leaf pair (SQLite, WAL, synchronous=FULL)")
            if os.environ.get("BENCH_COMMIT_PROFILE") == "1":
                await profile(store)
            results = {
                "store, records read in batches (ours)": await timed(N, store_change(store)),
                "store, machine by machine (before)": await timed(N, store_change(before)),
                "HTTP POST allocate/free (ours)": await timed(N, http_change(api)),
                "durable floor (one-row transaction)": await timed(N, floor(store)),
                "HTTP POST status (leaf, cabling unchanged)": await timed(N, status_report(api)),
                "watch delivery (commit response -> watcher)": await watch_delivery(api, N),
            }
            counts = {"ours": await statements(store), "before": await statements(before)}
    finally:
        await runner.cleanup()
    print(
        f"   statements for one allocate + one free: ours {counts['ours']}, before {counts['before']} "
        f"({counts['before'] / counts['ours']:.0f}x)"
    )
    p50 = {name: show(name, samples) for name, samples in results.items()}
    names = list(p50)
    cpu = [CPU[id(results[n])] for n in names[:2]]
    print(
        f"   ratio before/ours (store): {p50[names[1]] / p50[names[0]]:.1f}x wall, "
        f"{cpu[1] / cpu[0]:.1f}x CPU; ours/floor: {p50[names[0]] / p50[names[3]]:.1f}x"
    )


async def profile(store: Store) -> None:
    """cProfile of N store changes: the top functions by cumulative and own time."""
    prof = cProfile.Profile()
    prof.enable()
    await timed(N, store_change(store))
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
