"""CONFIG_DB apply of a full leaf: ours (one server-side script call per phase) vs one round trip per key.

metal-core writes each key with its own round trip (one HSET with all its fields), measured
two ways: with the daemon's asyncio client and with redis-py's blocking client (cheaper per round trip,
though a daemon cannot block its loop); the ratio is against the faster of the two.  Beside them, the
daemon's previous way (one MULTI/EXEC pipeline of HSET/HDEL per key, per phase) shows where the gain
comes from: on loopback the round trip is cheap and redis-py's per-command cost dominated.  All write the
same keys into a private redis-server, side by side, twice: over a unix socket (how SONiC's own daemons
reach Redis; started through the rig) and over TCP loopback (a second redis-server on a free
127.0.0.1 port, stopped by its PID).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from fabric.adapters.configdb import SonicDb
from fabric.adapters.process import spawn
from fabric.adapters.sonicdb import Database, DbLayout
from fabric.core.ops import Phase, SetKey
from lab.rig import Rig

PORTS = 64
VRFS = 64


def full_leaf() -> list[Phase]:
    """The phases of a 64-port leaf with 64 tenant VRFs (VRF, VLAN, tunnel map, ports)."""
    vrf = [SetKey("VRF", f"Vrf{100000 + i}", {"vni": str(100000 + i)}) for i in range(VRFS)]
    vlan = [SetKey("VLAN", f"Vlan{1001 + i}", {"vlanid": str(1001 + i)}) for i in range(VRFS)]
    vlan += [SetKey("SUPPRESS_VLAN_NEIGH", f"Vlan{1001 + i}", {"suppress": "on"}) for i in range(VRFS)]
    svi = [SetKey("VLAN_INTERFACE", f"Vlan{1001 + i}", {"vrf_name": f"Vrf{100000 + i}"}) for i in range(VRFS)]
    svi += [
        SetKey(
            "VXLAN_TUNNEL_MAP",
            f"vtep|map_{100000 + i}_Vlan{1001 + i}",
            {"vni": str(100000 + i), "vlan": f"Vlan{1001 + i}"},
        )
        for i in range(VRFS)
    ]
    ports = [
        SetKey(
            "INTERFACE",
            f"Ethernet{4 * i}",
            {"vrf_name": f"Vrf{100000 + i}", "ipv6_use_link_local_only": "enable"},
        )
        for i in range(PORTS)
    ]
    ports += [SetKey("PORT", f"Ethernet{4 * i}", {"mtu": "9000", "admin_status": "up"}) for i in range(PORTS)]
    return [
        Phase("vrf", tuple(vrf)),
        Phase("vlan", tuple(vlan)),
        Phase("svi", tuple(svi)),
        Phase("port", tuple(ports)),
    ]


async def scripted(db: SonicDb, phases: list[Phase]) -> float:
    """Ours: `SonicDb.apply_ops`, one EVALSHA per phase."""
    start = time.perf_counter()
    for phase in phases:
        await db.apply_ops(phase)
    return time.perf_counter() - start


async def multi_exec(db: SonicDb, phases: list[Phase]) -> float:
    """The daemon's previous way: one MULTI/EXEC pipeline per phase, one HSET (+HDEL) per key."""
    start = time.perf_counter()
    for phase in phases:
        async with db.config.pipeline(transaction=True) as pipe:
            for op in phase.ops:
                assert isinstance(op, SetKey)
                pipe.hset(f"{op.table}|{op.key}", mapping=dict(op.fields))
                pipe.hdel(f"{op.table}|{op.key}", "NULL")
            await pipe.execute()
    return time.perf_counter() - start


async def per_key(db: SonicDb, phases: list[Phase]) -> float:
    """metal-core's way with the daemon's asyncio client: one HSET round trip per key."""
    start = time.perf_counter()
    for phase in phases:
        for op in phase.ops:
            assert isinstance(op, SetKey)
            await db.config.hset(f"{op.table}|{op.key}", mapping=dict(op.fields))
    return time.perf_counter() - start


def per_key_blocking(client: redis.Redis, phases: list[Phase]) -> float:
    """metal-core's way with redis-py's blocking client: one HSET round trip per key."""
    start = time.perf_counter()
    for phase in phases:
        for op in phase.ops:
            assert isinstance(op, SetKey)
            client.hset(f"{op.table}|{op.key}", mapping=dict(op.fields))
    return time.perf_counter() - start


def blocking_client(layout: DbLayout) -> redis.Redis:
    """A blocking redis-py client of CONFIG_DB in `layout`."""
    db = layout.config
    if db.unix_socket:
        return redis.Redis(unix_socket_path=db.unix_socket, db=db.id, decode_responses=True)
    return redis.Redis(host=db.host, port=db.port, db=db.id, decode_responses=True)


def tcp_layout(port: int) -> DbLayout:
    """CONFIG_DB/APPL_DB/STATE_DB of a Redis on 127.0.0.1:`port`."""
    return DbLayout(
        config=Database("CONFIG_DB", 4, "|", None, "127.0.0.1", port),
        appl=Database("APPL_DB", 0, ":", None, "127.0.0.1", port),
        state=Database("STATE_DB", 6, "|", None, "127.0.0.1", port),
    )


@contextmanager
def tcp_redis() -> Iterator[int]:
    """A redis-server on a free loopback port, killed by its PID afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tempfile.mkdtemp(prefix="fabric-bench-redis-")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = spawn([*argv, "--dir", workdir, "--databases", "16"])
    try:
        probe = redis.Redis(port=port)
        for _ in range(500):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        probe.close()
        yield port
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        os.rmdir(workdir) if not os.listdir(workdir) else None


ROUNDS = 21


async def measure(layout: DbLayout, rounds: int = ROUNDS) -> tuple[dict[str, float], int]:
    """Median seconds of each way (interleaved, each on an empty database), and the key count."""
    db = SonicDb(layout)
    blocking = blocking_client(layout)
    phases = full_leaf()

    async def per_key_sync(_: SonicDb, phases: list[Phase]) -> float:
        return per_key_blocking(blocking, phases)

    ways = {"script": scripted, "multi_exec": multi_exec, "per_key": per_key, "per_key_sync": per_key_sync}
    seen: dict[str, list[float]] = {name: [] for name in ways}
    try:
        await scripted(db, phases)  # loads the script (EVALSHA's first NOSCRIPT) outside the timing
        for _ in range(rounds):
            for name, way in ways.items():
                await db.config.flushdb()
                seen[name].append(await way(db, phases))
    finally:
        blocking.close()
        await db.close()
    return {name: statistics.median(v) for name, v in seen.items()}, sum(len(p.ops) for p in phases)


def report(what: str, times: dict[str, float], keys: int) -> None:
    ours, multi = times["script"], times["multi_exec"]
    naive, blocking = times["per_key"], times["per_key_sync"]
    fastest_per_key = min(naive, blocking)
    print(f"CONFIG_DB full leaf ({keys} keys, 4 phases) over {what}, median of {ROUNDS} interleaved:")
    rows = [
        ("ours, one EVALSHA per phase:", ours, ""),
        ("MULTI/EXEC pipeline per phase (was):", multi, f"  ({multi / ours:.1f}x ours)"),
        ("one round trip per key, asyncio client:", naive, f"  ({naive / ours:.1f}x ours)"),
        ("one round trip per key, blocking client:", blocking, f"  ({blocking / ours:.1f}x ours)"),
    ]
    for label, seconds, ratio in rows:
        print(f"  {label:42}{seconds * 1000:8.2f} ms{ratio}")
    print(f"  ratio per-key/ours ({what}): {fastest_per_key / ours:.1f}x (the faster per-key way)")


def main() -> None:
    with Rig() as rig:
        server = rig.redis("bench")
        report("a unix socket", *asyncio.run(measure(DbLayout.on_socket(str(server.socket_path)))))
    with tcp_redis() as port:
        report("TCP loopback", *asyncio.run(measure(tcp_layout(port))))
