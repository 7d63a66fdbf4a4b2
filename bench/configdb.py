"""CONFIG_DB apply of a full leaf: one pipelined transaction per phase vs one round trip per key.

The anchor (metal-core) writes each key with its own round trip.  Both ways write the same keys into
a private redis-server on a unix socket (started and stopped here through the rig), side by side.
"""

from __future__ import annotations

import asyncio
import time

from fabric.adapters.configdb import SonicDb
from fabric.adapters.sonicdb import DbLayout
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


async def pipelined(db: SonicDb, phases: list[Phase]) -> float:
    start = time.perf_counter()
    for phase in phases:
        await db.apply_ops(phase)
    return time.perf_counter() - start


async def per_key(db: SonicDb, phases: list[Phase]) -> float:
    start = time.perf_counter()
    for phase in phases:
        for op in phase.ops:
            assert isinstance(op, SetKey)
            await db.config.hset(f"{op.table}|{op.key}", mapping=dict(op.fields))
    return time.perf_counter() - start


async def measure(socket: str, rounds: int = 5) -> tuple[float, float, int]:
    db = SonicDb(DbLayout.on_socket(socket))
    phases = full_leaf()
    ours, naive = [], []
    try:
        for _ in range(rounds):
            await db.config.flushdb()
            ours.append(await pipelined(db, phases))
            await db.config.flushdb()
            naive.append(await per_key(db, phases))
    finally:
        await db.close()
    return min(ours), min(naive), sum(len(p.ops) for p in phases)


def main() -> None:
    with Rig() as rig:
        server = rig.redis("bench")
        ours, naive, keys = asyncio.run(measure(str(server.socket_path)))
    print(f"CONFIG_DB full leaf ({keys} keys, 4 phases), best of 5:")
    print(f"  pipelined phases (MULTI/EXEC): {ours * 1000:8.2f} ms")
    print(f"  one round trip per key:        {naive * 1000:8.2f} ms")
    print(f"  ratio: {naive / ours:.1f}x")
