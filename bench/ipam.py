"""IP acquire in a /16 that already holds 50,000 allocations, on SQLite and PostgreSQL, side by side:

- ours through the store (one intent: one `INSERT … SELECT` takes the lowest free address, its trigger
  shrinks the free span; the audit entry),
- ours through HTTP (`POST /v1/ips` to a running `fabric api serve`),
- the floor: one durable single-row transaction on the same engine,
- the go-ipam-style baseline: the whole prefix stored as one document of allocated addresses, read,
  scanned linearly for the first free address, and written back whole.

The /16 is fragmented on purpose (every 11th address of the first 55,000 is free again), so the free
spans number about 5,000.  Figures: p50 and p99 in milliseconds and the ratios ours / floor and
baseline / ours.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from fabric.adapters.api_client import ApiClient
from fabric.adapters.store.bodies import IpAcquire, NetworkCreate, PartitionCreate
from fabric.adapters.store.engine import Database
from fabric.adapters.store.schema import FreeRange, Ip
from fabric.adapters.store.service import Store
from fabric.adapters.store.tokens import Principal
from fabric.core.ipam import key

N = 300
TAKEN = 55_000
PREFIX = ipaddress.ip_network("10.0.0.0/16")
ME = Principal("bench", "admin")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - start)
    return out


async def setup(db: Database) -> Store:
    """A partition and a /16 holding 50,000 IPs (bulk-loaded: the figure is about the next acquire)."""
    await db.migrate()
    store = Store(db)
    await store.create_partition(
        ME,
        PartitionCreate(
            name="bench",
            vni_range={"first": 1, "last": 1000},
            machine_asn_range={"first": 65000, "last": 65100},
            switch_asn_range={"first": 64512, "last": 64600},
            loopback_prefix="10.255.0.0/24",
        ),
    )
    await store.create_network(
        ME, NetworkCreate(name="big", partition="bench", kind="external", prefixes=[str(PREFIX)])
    )
    first = int(PREFIX.network_address) + 1
    taken = [first + i for i in range(TAKEN) if i % 11 != 10]
    holes = [first + i for i in range(TAKEN) if i % 11 == 10]
    async with db.sessions() as s, s.begin():
        pool = (
            await s.execute(text("SELECT pool_id FROM prefixes WHERE cidr = :c"), {"c": str(PREFIX)})
        ).scalar_one()
        await s.execute(FreeRange.__table__.delete().where(FreeRange.pool_id == pool))
        spans = [(h, h) for h in holes] + [(first + TAKEN, int(PREFIX.broadcast_address) - 1)]
        await s.execute(
            FreeRange.__table__.insert(),
            [{"pool_id": pool, "first": key(a), "last": key(b)} for a, b in spans],
        )
        rows = [
            {
                "address": str(ipaddress.IPv4Address(v)),
                "pool_id": pool,
                "key": key(v),
                "network": "big",
                "project": None,
                "machine": None,
                "kind": "static",
                "name": "",
            }
            for v in taken
        ]
        for i in range(0, len(rows), 5000):
            await s.execute(Ip.__table__.insert(), rows[i : i + 5000])
        await s.execute(text("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, v TEXT)"))
        await s.execute(text("CREATE TABLE bench_goipam (cidr TEXT PRIMARY KEY, doc TEXT)"))
        await s.execute(
            text("INSERT INTO bench_goipam VALUES (:c, :d)"),
            {"c": str(PREFIX), "d": json.dumps([str(ipaddress.IPv4Address(v)) for v in taken])},
        )
    return store


async def floor(db: Database, i: int) -> None:
    async with db.sessions() as s, s.begin():
        await s.execute(text("INSERT INTO bench_floor (id, v) VALUES (:i, 'x')"), {"i": i})


async def goipam(db: Database, _i: int) -> None:
    """The baseline: read the prefix document, scan for the first free address, write it back whole."""
    async with db.sessions() as s, s.begin():
        query = "SELECT doc FROM bench_goipam WHERE cidr = :c"
        if db.dialect == "postgresql":
            query += " FOR UPDATE"
        doc = (await s.execute(text(query), {"c": str(PREFIX)})).scalar_one()
        used = set(json.loads(doc))
        for host in PREFIX.hosts():
            if str(host) not in used:
                used.add(str(host))
                break
        await s.execute(
            text("UPDATE bench_goipam SET doc = :d WHERE cidr = :c"),
            {"d": json.dumps(sorted(used)), "c": str(PREFIX)},
        )


async def interleaved(db: Database, store: Store, api: ApiClient, n: int) -> dict[str, list[float]]:
    """floor, store and HTTP acquires taken in turn, so a load that comes and goes on a shared machine
    weighs on all three alike (the ratios are what we report)."""
    steps: dict[str, Callable[[int], Awaitable[object]]] = {
        "floor": lambda i: floor(db, i),
        "store": lambda _i: store.acquire_ip(ME, IpAcquire(network="big")),
        "http": lambda _i: api.request("POST", "/v1/ips", {"network": "big"}),
    }
    out: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(n):
        for label, step in steps.items():
            start = time.perf_counter()
            await step(i)
            out[label].append(time.perf_counter() - start)
    return out


def serve(db_url: str) -> tuple[str, str, int]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "api"))
    from conftest import start_server

    server = start_server(db_url, "bench")
    return server.url, server.admin, server.pid


def count_statements(db: Database) -> list[int]:
    """A counter of the statements the engine sends (BEGIN included; the commit is not a statement)."""
    from sqlalchemy import event

    counter = [0]

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(*_args: object) -> None:
        counter[0] += 1

    return counter


async def run_engine(name: str, url: str) -> dict[str, list[float]]:
    from conftest import stop_server

    db = Database(url)
    store = await setup(db)
    counter = count_statements(db)
    await floor(db, -1)
    floor_statements, counter[0] = counter[0], 0
    await store.acquire_ip(ME, IpAcquire(network="big"))
    store_statements = counter[0]
    srv_url, token, pid = serve(url)
    try:
        async with ApiClient(srv_url, token) as api:
            await api.request("POST", "/v1/ips", {"network": "big"})  # warm: connection, token
            results = await interleaved(db, store, api, N)
    finally:
        stop_server(pid)
    results["go-ipam-style"] = await timed(min(N, 60), lambda i: goipam(db, i))
    await db.close()
    print(f"-- {name}: /16 with 50,000 IPs, {N} acquires each, interleaved (baseline {min(N, 60)})")
    print(
        f"   statements per transaction: floor {floor_statements}, store acquire {store_statements}"
        " (BEGIN counted where the driver sends it)"
    )
    for label, samples in results.items():
        print(f"   {label:14} p50 {pct(samples, 0.5):8.2f} ms   p99 {pct(samples, 0.99):8.2f} ms")
    f50, s50, h50, g50 = (pct(results[k], 0.5) for k in ("floor", "store", "http", "go-ipam-style"))
    f99, s99, h99 = (pct(results[k], 0.99) for k in ("floor", "store", "http"))
    print(
        f"   store / floor: p50 {s50 / f50:.1f}x p99 {s99 / f99:.1f}x   http / floor: p50 {h50 / f50:.1f}x "
        f"p99 {h99 / f99:.1f}x   go-ipam-style / store: p50 {g50 / s50:.1f}x"
    )
    return results


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "api"))
    import pg

    with tempfile.TemporaryDirectory(prefix="fabric-bench-") as tmp:
        asyncio.run(run_engine("SQLite (WAL, synchronous=FULL)", f"sqlite:///{tmp}/bench.db"))
    if pg.available() is None:
        instance = pg.start(fsync=True)
        try:
            asyncio.run(
                run_engine("PostgreSQL 15 (fsync on)", instance.createdb(f"b_{secrets.token_hex(3)}"))
            )
        finally:
            instance.stop()
    else:
        print(f"-- PostgreSQL skipped: {pg.available()}")


if __name__ == "__main__":
    main()
