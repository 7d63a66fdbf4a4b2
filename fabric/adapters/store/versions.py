"""Object versions for optimistic concurrency: `ETag` on reads, `If-Match` on writes.

An object's version is the SHA-256 of what it *is* (its columns and the rows that belong to it: a
machine's NICs, IPs and networks, a switch's ports and cabling, a network's prefixes), not of usage
figures that other intents move (a network's free-address count).  `check` recomputes it inside the
writing transaction, after locking the object's row, so a writer that read an older version is refused
with 412 before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.errors import NotFound, Stale
from fabric.adapters.store.queries import SINGULAR, TABLES, as_dict
from fabric.adapters.store.schema import Ip, Machine, MachineNetwork, Network, Nic, Prefix, Switch, SwitchPort


async def _identity(session: AsyncSession, row: Any) -> dict[str, Any]:
    out = as_dict(row)
    if isinstance(row, Network):
        cidrs = (await session.execute(select(Prefix.cidr).where(Prefix.network == row.name))).scalars()
        out["prefixes"] = sorted(cidrs)
    elif isinstance(row, Switch):
        ports = (await session.execute(select(SwitchPort).where(SwitchPort.switch == row.name))).scalars()
        out["ports"] = sorted((as_dict(p) for p in ports), key=lambda p: str(p["name"]))
    elif isinstance(row, Machine):
        nics = (await session.execute(select(Nic).where(Nic.machine == row.name))).scalars()
        out["nics"] = sorted((as_dict(n) for n in nics), key=lambda n: str(n["mac"]))
        ips = (await session.execute(select(Ip.address).where(Ip.machine == row.name))).scalars()
        out["ips"] = sorted(ips)
        nets = select(MachineNetwork.network).where(MachineNetwork.machine == row.name)
        out["networks"] = sorted((await session.execute(nets)).scalars())
    return out


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return "v1-" + hashlib.sha256(text.encode()).hexdigest()[:32]


async def version(session: AsyncSession, what: str, name: str, *, lock: bool = False) -> str | None:
    """The version of `what`/`name` (e.g. `machines`/`m1`), or None when it does not exist.

    `lock` takes the row lock first (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers already).
    """
    table = TABLES[what]
    if lock and session.get_bind().dialect.name != "sqlite":
        (pk,) = inspect(table).primary_key
        await session.execute(select(pk).where(pk == name).with_for_update())
    row = await session.get(table, name, populate_existing=lock)
    return _digest(await _identity(session, row)) if row is not None else None


async def check(session: AsyncSession, what: str, name: str, expected: str) -> None:
    """Refuse the write (`Stale`, HTTP 412) unless `what`/`name` is still at version `expected`."""
    current = await version(session, what, name, lock=True)
    if current is None:
        raise NotFound(SINGULAR.get(what, what), name)
    if expected not in ("*", current):
        raise Stale(what, name, current)
