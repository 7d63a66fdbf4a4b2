"""Read-only listings for the API and the CLI (plain dicts, JSON-ready)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import pools
from fabric.adapters.store.errors import NotFound
from fabric.adapters.store.schema import (
    Audit,
    Base,
    DocumentHistory,
    Ip,
    Machine,
    Network,
    Nic,
    Partition,
    Prefix,
    Project,
    Switch,
    SwitchPort,
    Token,
)
from fabric.errors import ValidationError

HIDDEN = {"hash", "pool_id", "key", "vni_pool", "machine_asn_pool", "switch_asn_pool", "loopback_pool"}
TABLES: dict[str, type[Base]] = {
    "partitions": Partition,
    "projects": Project,
    "networks": Network,
    "ips": Ip,
    "switches": Switch,
    "machines": Machine,
    "tokens": Token,
}
SINGULAR = {
    what: what.removesuffix("es") if what == "switches" else what.removesuffix("s") for what in TABLES
}


def as_dict(row: Base) -> dict[str, Any]:
    """A row's columns, without internal ids and secrets."""
    return {c.key: getattr(row, c.key) for c in inspect(row).mapper.column_attrs if c.key not in HIDDEN}


def filter_columns(what: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `candidates` a listing of `what` can filter by (columns of its table)."""
    columns = inspect(TABLES[what]).columns
    return tuple(c for c in candidates if c in columns)


async def listing(session: AsyncSession, what: str, **filters: str | None) -> list[dict[str, Any]]:
    """Every row of a resource, filtered by equal columns, ordered by primary key."""
    table = TABLES[what]
    query = select(table)
    for column, value in filters.items():
        if value is None:
            continue
        if column not in inspect(table).columns:
            raise ValidationError(f"{what} cannot be filtered by {column}", column)
        query = query.where(getattr(table, column) == value)
    pk = inspect(table).primary_key
    rows = (await session.execute(query.order_by(*pk))).scalars().all()
    return [as_dict(r) for r in rows]


async def show(session: AsyncSession, what: str, name: str) -> dict[str, Any]:
    """One row with its details (prefixes and usage of a network, ports of a switch, NICs)."""
    table = TABLES[what]
    row = await session.get(table, name)
    if row is None:
        raise NotFound(SINGULAR[what], name)
    out = as_dict(row)
    if isinstance(row, Network):
        out["prefixes"] = []
        for p in (await session.execute(select(Prefix).where(Prefix.network == name))).scalars():
            free, size = await pools.free_count(session, p.pool_id)
            out["prefixes"].append({"cidr": p.cidr, "parent": p.parent, "free": str(free), "size": str(size)})
    elif isinstance(row, Switch):
        ports = (await session.execute(select(SwitchPort).where(SwitchPort.switch == name))).scalars()
        out["ports"] = [as_dict(p) for p in ports]
    elif isinstance(row, Machine):
        out["nics"] = [
            as_dict(n) for n in (await session.execute(select(Nic).where(Nic.machine == name))).scalars()
        ]
        out["ips"] = list((await session.execute(select(Ip.address).where(Ip.machine == name))).scalars())
    return out


async def audit(session: AsyncSession, limit: int = 100, target: str | None = None) -> list[dict[str, Any]]:
    """The newest audit entries first."""
    query = select(Audit).order_by(Audit.id.desc()).limit(limit)
    if target is not None:
        query = query.where(Audit.target == target)
    return [as_dict(r) for r in (await session.execute(query)).scalars()]


async def revision_body(session: AsyncSession, kind: str, name: str, revision: int) -> dict[str, Any]:
    """A document as it was at `revision` (`{}` when it was removed then)."""
    row = await session.get(DocumentHistory, (kind, name, revision))
    if row is None:
        raise NotFound(f"{kind} revision", f"{name}@{revision}", "revision")
    return json.loads(row.body) if row.body else {}
