"""The API at production scale and at 10x, SQLite and PostgreSQL, side by side in one run.

A partition of metal-stack's published production size (1x: 30 racks of a leaf pair and 60
dual-attached machines each = 60 leaves, 1,800 machines; 4 spines; 200 projects with a private network
each) and ten times that (600 leaves, 18,000 machines), served by `fabric api serve` in its own process
and driven over HTTP as operators and daemons drive it:

- declare: `POST /v1/apply` (the fabric, then the machines in batches of 3,000 racks' worth),
- cabling: every leaf reports its LLDP neighbours (8 clients),
- allocation: 8 clients allocate machines into their projects — all 1,800 at 1x; at 10x the same
  number, one machine in ten across every rack (what an allocation costs in the larger fleet),
- a partition-wide change (DHCP relay) until every leaf's parked long-poll is answered,
- the fleet view (`GET /v1/status`) and one leaf's document (`GET .../state`), medians,
- the API's RSS and the database's size.

Targets (issue 17): >= 50 allocations/s on SQLite at 1x, reported against the durable floor (one
single-row commit on the same engine, measured here); per allocation at 10x no more than 2x slower than
at 1x; the partition-wide change answered at every leaf in <= 2 s at 10x; the fleet view <= 200 ms at
10x.  `python -m bench scale` (`FABRIC_BENCH_SCALES=1` for 1x only; `FABRIC_BENCH_ENGINES=sqlite`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import spawn
from fabric.model.status import LldpNeighbour, SwitchStatus, SyncResult

RACKS = 30  # at 1x
PER_RACK = 60  # machines per rack (a leaf pair)
SPINES = 4
PROJECTS = 200
CLIENTS = 8
BATCH = 3000  # machines per `POST /v1/apply`
TOKEN = "fab_bench_" + "s" * 32
PARTITION = {
    "name": "fra",
    "vni_range": {"first": 100000, "last": 109999},
    "machine_asn_range": {"first": 4210000000, "last": 4210099999},
    "switch_asn_range": {"first": 4200000000, "last": 4200009999},
    "loopback_prefix": "10.0.0.0/20",
    "dhcp_relay": ["192.168.0.10"],
}
NETWORKS = [
    {
        "name": "tenants",
        "partition": "fra",
        "kind": "super",
        "prefixes": ["10.128.0.0/14", "2001:db8:100::/40"],
        "child_lengths": {"4": 22, "6": 56},
    },
    {"name": "underlay", "partition": "fra", "kind": "underlay", "prefixes": ["10.1.0.0/16"]},
]


def mac(machine: int, nic: int) -> str:
    return f"aa:{machine >> 16 & 255:02x}:{machine >> 8 & 255:02x}:{machine & 255:02x}:00:{nic:02x}"


def leaf(rack: int, side: int) -> str:
    return f"leaf{rack:03d}{'ab'[side]}"


def port(i: int) -> str:
    return f"Ethernet{4 * i}"


def fabric_spec(racks: int) -> dict[str, Any]:
    projects = [{"name": f"p{i}"} for i in range(PROJECTS)]
    private = [
        {"name": f"net{i}", "partition": "fra", "kind": "private", "parent": "tenants", "project": f"p{i}"}
        for i in range(PROJECTS)
    ]
    ports = [port(i) for i in range(PER_RACK + SPINES)]
    leaves = [
        {"name": leaf(r, s), "partition": "fra", "rack": f"r{r}", "role": "leaf", "ports": ports}
        for r in range(racks)
        for s in (0, 1)
    ]
    spines = [
        {"name": f"spine{s}", "partition": "fra", "rack": "spines", "role": "spine"} for s in range(SPINES)
    ]
    return {
        "partitions": [PARTITION],
        "projects": projects,
        "networks": [*NETWORKS, *private],
        "switches": [*leaves, *spines],
    }


def machines_spec(racks: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"m{r * PER_RACK + i}",
            "partition": "fra",
            "rack": f"r{r}",
            "nics": [{"name": f"lan{n}", "mac": mac(r * PER_RACK + i, n)} for n in (0, 1)],
        }
        for r in range(racks)
        for i in range(PER_RACK)
    ]


def lldp(rack: int, side: int) -> SwitchStatus:
    heard = [LldpNeighbour(port=port(i), port_id=mac(rack * PER_RACK + i, side)) for i in range(PER_RACK)]
    heard += [
        LldpNeighbour(port=port(PER_RACK + s), sys_name=f"spine{s}", port_id=port(2 * rack + side))
        for s in range(SPINES)
    ]
    return SwitchStatus(name=leaf(rack, side), sync=SyncResult(applied_revision=0), lldp=heard)


async def clients(jobs: list[Callable[[], Awaitable[None]]], n: int = CLIENTS) -> list[float]:
    """Run `jobs` on `n` concurrent clients; each job's latency in seconds."""
    queue = list(reversed(jobs))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            job = queue.pop()
            start = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(n)))
    return latencies


def ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@dataclass
class Row:
    engine: str
    scale: int
    declare_s: float = 0.0
    cabling_s: float = 0.0
    allocations: int = 0
    alloc_per_s: float = 0.0
    alloc_p50_ms: float = 0.0
    alloc_p99_ms: float = 0.0
    change_s: float = 0.0
    fleet_ms: float = 0.0
    document_ms: float = 0.0
    rss_mb: float = 0.0
    db_mb: float = 0.0


async def measure(url: str, racks: int, row: Row) -> None:
    async with ApiClient(url, TOKEN, timeout=600) as api:
        start = time.perf_counter()
        await api.request("POST", "/v1/apply", fabric_spec(racks))
        machines = machines_spec(racks)
        for i in range(0, len(machines), BATCH):
            await api.request("POST", "/v1/apply", {"machines": machines[i : i + BATCH]})
        row.declare_s = time.perf_counter() - start

        start = time.perf_counter()
        reports = [
            lambda r=r, s=s: api.post_status("switch", leaf(r, s), lldp(r, s))
            for r in range(racks)
            for s in (0, 1)
        ]
        await clients(reports)
        row.cabling_s = time.perf_counter() - start

        step = racks // RACKS  # 1x: every machine; 10x: one in ten, across every rack
        chosen = range(0, racks * PER_RACK, step)
        allocations = [
            lambda m=m: api.request(
                "POST",
                f"/v1/machines/m{m}/allocate",
                {"project": f"p{m % PROJECTS}", "networks": [f"net{m % PROJECTS}"]},
            )
            for m in chosen
        ]
        start = time.perf_counter()
        latencies = await clients(allocations)
        wall = time.perf_counter() - start
        row.allocations = len(latencies)
        row.alloc_per_s = len(latencies) / wall
        row.alloc_p50_ms, row.alloc_p99_ms = ms(latencies, 0.5), ms(latencies, 0.99)

        row.change_s = await partition_change(api, racks)
        row.fleet_ms = await median_ms(lambda: api.request("GET", "/v1/status"), 5)
        row.document_ms = await median_ms(lambda: api.get_state("switch", leaf(0, 0)), 20)


async def partition_change(api: ApiClient, racks: int) -> float:
    """Every leaf parks a long-poll at its revision; the DHCP relay changes; seconds from the request
    until the last leaf's poll is answered."""
    names = [leaf(r, s) for r in range(racks) for s in (0, 1)]
    revisions = {n: (await api.get_state("switch", n)).revision or 0 for n in names}
    answered: list[float] = []

    async def park(name: str) -> None:
        fetched = await api.watch_state("switch", name, revisions[name], 120)
        assert fetched.document is not None, f"{name}'s watch timed out"
        answered.append(time.perf_counter())

    watches = [asyncio.create_task(park(n)) for n in names]
    await asyncio.sleep(2.0 + len(names) / 200)  # every watch parked
    body = {**PARTITION, "dhcp_relay": ["192.168.0.10", "192.168.0.11"]}
    start = time.perf_counter()
    await api.request("PUT", "/v1/partitions/fra", body)
    await asyncio.gather(*watches)
    return max(answered) - start


async def median_ms(call: Callable[[], Awaitable[Any]], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def db_mb(db: str) -> float:
    if db.startswith("sqlite"):
        path = Path(db.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db)
    async with engine.connect() as conn:
        size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
    await engine.dispose()
    return float(size) / 2**20


def sqlite_floor(directory: str, n: int = 200) -> float:
    """Durable single-row commits per second on SQLite here (WAL, synchronous=FULL, as the store)."""
    conn = sqlite3.connect(f"{directory}/floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (i INTEGER)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.execute("COMMIT")
    conn.close()
    return n / (time.perf_counter() - start)


async def pg_floor(db: str, n: int = 200) -> float:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db)
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_floor (i INTEGER)"))
        await conn.commit()
        start = time.perf_counter()
        for i in range(n):
            await conn.execute(text("INSERT INTO bench_floor VALUES (:i)"), {"i": i})
            await conn.commit()
        took = time.perf_counter() - start
    await engine.dispose()
    return n / took


def serve(db: str, log: str) -> tuple[str, int]:
    from lab.rig.ports import free_port
    from lab.rig.wait import wait_until

    listen = f"127.0.0.1:{free_port()}"
    fabric = str(Path(sys.executable).parent / "fabric")
    env = {**os.environ, "FABRIC_ADMIN_TOKEN": TOKEN}
    proc = spawn([fabric, "api", "serve", "--db", db, "--listen", listen], env=env, stdout_path=log)
    url = f"http://{listen}"

    def healthy() -> bool:
        import urllib.request

        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
            return bool(r.status == 200)

    wait_until(healthy, timeout=60, interval=0.1, what="fabric api", retry_on=(OSError,))
    return url, proc.pid


def stop(pid: int) -> None:
    import signal

    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)


def run_one(engine: str, db: str, scale: int, log: str) -> Row:
    row = Row(engine, scale)
    url, pid = serve(db, log)
    try:
        asyncio.run(measure(url, RACKS * scale, row))
        row.rss_mb = rss_mb(pid)
    finally:
        stop(pid)
    row.db_mb = asyncio.run(db_mb(db))
    return row


def show(rows: list[Row], floors: dict[str, float]) -> None:
    print(
        f"{'engine':<11}{'scale':>6}{'declare s':>10}{'cabling s':>10}{'allocs':>7}{'alloc/s':>9}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'change s':>9}{'fleet ms':>9}{'doc ms':>8}{'RSS MB':>8}{'DB MB':>7}"
    )
    for r in rows:
        print(
            f"{r.engine:<11}{r.scale:>5}x{r.declare_s:>10.1f}{r.cabling_s:>10.1f}{r.allocations:>7}"
            f"{r.alloc_per_s:>9.1f}{r.alloc_p50_ms:>8.0f}{r.alloc_p99_ms:>8.0f}{r.change_s:>9.2f}"
            f"{r.fleet_ms:>9.0f}{r.document_ms:>8.1f}{r.rss_mb:>8.0f}{r.db_mb:>7.0f}"
        )
    for engine, floor in floors.items():
        one = next((r for r in rows if r.engine == engine and r.scale == 1), None)
        ten = next((r for r in rows if r.engine == engine and r.scale == 10), None)
        if one is None:
            continue
        print(
            f"-- {engine}: 1x allocations {one.alloc_per_s:.1f}/s ({_verdict(50 / one.alloc_per_s, 1.0)} "
            f">= 50/s); the durable floor here is {floor:.0f} single-row commits/s: one allocation (8 "
            f"clients) costs {floor / one.alloc_per_s:.0f} of them"
        )
        if ten is not None:
            slower = ten.alloc_p50_ms / one.alloc_p50_ms
            print(
                f"   10x vs 1x per allocation (p50): {slower:.2f}x ({_verdict(slower, 2.0)} <= 2x); "
                f"change at every leaf {ten.change_s:.2f} s ({_verdict(ten.change_s, 2.0)} <= 2 s); "
                f"fleet view {ten.fleet_ms:.0f} ms ({_verdict(ten.fleet_ms, 200.0)} <= 200 ms)"
            )


def _verdict(value: float, target: float) -> str:
    return "target met:" if value <= target else f"target missed by {value / target:.1f}x:"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "api"))
    import pg

    scales = [int(s) for s in os.environ.get("FABRIC_BENCH_SCALES", "1,10").split(",")]
    engines = os.environ.get("FABRIC_BENCH_ENGINES", "sqlite,postgresql").split(",")
    rows: list[Row] = []
    floors: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fabric-bench-scale-") as tmp:
        if "sqlite" in engines:
            floors["SQLite"] = sqlite_floor(tmp)
            for scale in scales:
                db = f"sqlite:///{tmp}/scale{scale}.db"
                rows.append(run_one("SQLite", db, scale, f"{tmp}/api-sqlite-{scale}.log"))
                show(rows[-1:], {})
        if "postgresql" in engines:
            why = pg.available()
            if why is not None:
                print(f"-- PostgreSQL skipped: {why}")
            else:
                instance = pg.start(fsync=True)
                try:
                    floors["PostgreSQL"] = asyncio.run(
                        pg_floor(instance.createdb(f"f_{secrets.token_hex(3)}"))
                    )
                    for scale in scales:
                        db = instance.createdb(f"s{scale}_{secrets.token_hex(3)}")
                        rows.append(run_one("PostgreSQL", db, scale, f"{tmp}/api-pg-{scale}.log"))
                        show(rows[-1:], {})
                finally:
                    instance.stop()
    print("== all")
    show(rows, floors)


if __name__ == "__main__":
    main()
