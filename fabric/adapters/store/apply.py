"""`POST /v1/apply`: a whole declaration (the file of `fabric apply`) in ONE transaction.

Sections are applied in dependency order (partitions, projects, networks, switches, machines): a
missing object is created, an existing one updated to its body (`updates`, the same safety rules as
`PUT`).  With `prune`, objects the file no longer names are then deleted, users before what they use
(machines, switches, child networks, networks, projects), each refused as `DELETE` refuses it (an
allocated machine, a network with IPs …): the refusal names the blocker and the whole intent rolls
back, so nothing is created, updated or deleted.

What prune may delete (the scope) is exact:

- only kinds whose section is present in the file (an empty list counts: `networks: []`);
- networks, switches and machines whose partition is one of the file's partitions: those it declares
  under `partitions` plus every `partition:` its objects name;
- projects that own something (a network, a machine, an IP) in those partitions and nothing outside
  them; a project owning nothing is never pruned, since nothing ties it to a partition;
- partitions never: they are the scope itself (`fabric api delete partition NAME`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import deletes, hardware, inventory, updates
from fabric.adapters.store.bodies import ApplySpec
from fabric.adapters.store.errors import Conflict, NotFound
from fabric.adapters.store.queries import SINGULAR, TABLES
from fabric.adapters.store.schema import Ip, Machine, Network, Switch
from fabric.errors import AllocationError, FabricError, ValidationError

Touched = set[tuple[str, str]]
SECTIONS = ("partitions", "projects", "networks", "switches", "machines")
PRUNE_ORDER = ("machines", "switches", "networks", "projects")


async def _create_switch(s: AsyncSession, body: Any) -> Touched:
    return {("switch", (await hardware.create_switch(s, body)).name)}


async def _create_network(s: AsyncSession, body: Any) -> Touched:
    await inventory.create_network(s, body)
    return set()


def _untouched(fn: Callable[[AsyncSession, Any], Awaitable[object]]) -> Callable[..., Awaitable[Touched]]:
    async def create(s: AsyncSession, body: Any) -> Touched:
        await fn(s, body)
        return set()

    return create


CREATES: dict[str, Callable[[AsyncSession, Any], Awaitable[Touched]]] = {
    "partitions": _untouched(inventory.create_partition),
    "projects": _untouched(inventory.create_project),
    "networks": _create_network,
    "switches": _create_switch,
    "machines": _untouched(hardware.create_machine),
}
UPDATES: dict[str, Callable[[AsyncSession, Any], Awaitable[tuple[list[str], Touched]]]] = {
    "partitions": updates.update_partition,
    "projects": updates.update_project,
    "networks": updates.update_network,
    "switches": updates.update_switch,
    "machines": updates.update_machine,
}
DELETES = {
    "partitions": deletes.delete_partition,
    "projects": deletes.delete_project,
    "networks": deletes.delete_network,
    "switches": deletes.delete_switch,
    "machines": deletes.delete_machine,
}


@dataclass
class Outcome:
    """What apply did (or, in a dry run, would do); `audit` lists (action, target, detail) entries."""

    results: list[dict[str, Any]] = field(default_factory=list)
    touched: Touched = field(default_factory=set)
    audit: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


async def apply(session: AsyncSession, spec: ApplySpec) -> Outcome:
    """Apply `spec` in the caller's transaction; a failing object raises naming `section[i].field`."""
    out = Outcome()
    for section in SECTIONS:
        for i, item in enumerate(getattr(spec, section) or []):
            try:
                await _one(session, section, item, out)
            except FabricError as exc:
                raise _located(exc, f"{section}[{i}]") from exc
    if spec.prune:
        await _prune(session, spec, out)
    return out


async def _one(session: AsyncSession, section: str, item: Any, out: Outcome) -> None:
    singular = SINGULAR[section]
    body = item.model_dump(mode="json")
    if await session.get(TABLES[section], item.name) is None:
        out.touched |= await CREATES[section](session, item)
        out.results.append({"kind": section, "name": item.name, "action": "created", "changed": []})
        out.audit.append((f"{singular}.create", item.name, body))
        return
    changed, touched = await UPDATES[section](session, item)
    out.touched |= touched
    action = "updated" if changed else "unchanged"
    out.results.append({"kind": section, "name": item.name, "action": action, "changed": changed})
    if changed:
        out.audit.append((f"{singular}.update", item.name, body))


def _located(exc: FabricError, where: str) -> FabricError:
    """The same error with its field placed under the object of the file that caused it."""
    if isinstance(exc, ValidationError):
        return ValidationError(
            str(exc), problems=[(f"{where}.{p}" if p else where, m) for p, m in exc.problems]
        )
    if isinstance(exc, NotFound | Conflict):
        exc.path = f"{where}.{exc.path}" if exc.path else where
        return exc
    if isinstance(exc, AllocationError):
        return AllocationError(f"{where}: {exc}", exc.pool, exc.size)
    return exc


def scope(spec: ApplySpec) -> set[str]:
    """The partitions a file covers: those it declares and those its objects name."""
    named = {p.name for p in spec.partitions or []}
    for section in ("networks", "switches", "machines"):
        named |= {item.partition for item in getattr(spec, section) or []}
    return named


async def doomed(session: AsyncSession, spec: ApplySpec) -> list[tuple[str, str]]:
    """(kind, name) that prune deletes, in the order it deletes them."""
    partitions = scope(spec)
    out: list[tuple[str, str]] = []
    for section in PRUNE_ORDER:
        items = getattr(spec, section)
        if items is None:
            continue
        keep = {item.name for item in items}
        out += [(section, n) for n in await _in_scope(session, section, partitions) if n not in keep]
    return out


async def _in_scope(session: AsyncSession, section: str, partitions: set[str]) -> list[str]:
    if section == "networks":
        # Children (private networks carved from a super network) before their parents.
        nets = (await session.execute(select(Network.name, Network.parent, Network.partition))).all()
        return [n for n, _parent, p in sorted(nets, key=lambda r: (r[1] is None, r[0])) if p in partitions]
    if section in ("switches", "machines"):
        kind: type[Switch] | type[Machine] = Switch if section == "switches" else Machine
        named = await session.execute(select(kind.name).where(kind.partition.in_(partitions)))
        return sorted(named.scalars())
    # A project is in scope when it owns something (networks, machines, IPs) in the partitions and
    # nothing outside them.
    owners: dict[bool, set[str]] = {True: set(), False: set()}
    for owner in (Network, Machine):
        rows = await session.execute(
            select(owner.project, owner.partition.in_(partitions)).where(owner.project.is_not(None))
        )
        for project, inside in rows:
            owners[bool(inside)].add(str(project))
    ips = await session.execute(
        select(Ip.project, Network.partition.in_(partitions))
        .join(Network, Network.name == Ip.network)
        .where(Ip.project.is_not(None))
    )
    for project, inside in ips:
        owners[bool(inside)].add(str(project))
    return sorted(owners[True] - owners[False])


async def _prune(session: AsyncSession, spec: ApplySpec, out: Outcome) -> None:
    for section, name in await doomed(session, spec):
        try:
            out.touched |= await DELETES[section](session, name)
        except FabricError as exc:
            raise Conflict(f"prune refused, nothing was applied: {exc}", f"prune.{section}/{name}") from exc
        out.results.append({"kind": section, "name": name, "action": "deleted", "changed": []})
        out.audit.append((f"{SINGULAR[section]}.delete", name, {"pruned": True}))
