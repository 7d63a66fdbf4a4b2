"""Declarative updates: bring a stored object to a create body, field by field, in the caller's transaction.

Each `update_*` returns the fields it changed and the documents that change touches.  A change that is
not safe (it would orphan something allocated, or it changes what an object *is*) is refused before
anything is written, naming the field and the reason; the transaction then rolls back whole.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import inventory, pools
from fabric.adapters.store.allocation import leaves_of
from fabric.adapters.store.bodies import (
    MachineCreate,
    NetworkCreate,
    PartitionCreate,
    ProjectCreate,
    SwitchCreate,
)
from fabric.adapters.store.errors import Conflict
from fabric.adapters.store.hardware import exit_rows, machine_row
from fabric.adapters.store.schema import (
    Machine,
    MachineNetwork,
    Network,
    Nic,
    Partition,
    Prefix,
    Project,
    Switch,
    SwitchPort,
)
from fabric.core.ipam import Span, parse_allowed, parse_prefix, prefix_span
from fabric.errors import ValidationError

Touched = set[tuple[str, str]]
Changed = list[str]


def immutable(what: str, name: str, field: str, stored: Any, wanted: Any) -> None:
    """Refuse a change of a field that says what the object is."""
    if wanted != stored:
        raise ValidationError(
            f"{field} of {what} {name} cannot change (it is {stored!r}); delete it and create it again", field
        )


async def attached(session: AsyncSession, network: str) -> dict[str, str]:
    """Machines and firewalls attached to `network`: name -> role."""
    rows = await session.execute(
        select(Machine.name, Machine.role)
        .join(MachineNetwork, MachineNetwork.machine == Machine.name)
        .where(MachineNetwork.network == network)
    )
    return {n: r or "machine" for n, r in rows.all()}


async def allocated_on(session: AsyncSession, switch: str) -> list[str]:
    """Allocated machines and firewalls cabled to a port of `switch`."""
    rows = await session.execute(
        select(Nic.machine)
        .join(SwitchPort, SwitchPort.neighbour_mac == Nic.mac)
        .join(Machine, Machine.name == Nic.machine)
        .where(SwitchPort.switch == switch, Machine.role.is_not(None))
    )
    return sorted(set(rows.scalars()))


async def update_partition(session: AsyncSession, body: PartitionCreate) -> tuple[Changed, Touched]:
    """Pools grow or shrink (never below what is allocated); VLANs, PXE and DHCP relays change freely."""
    part = await inventory.get(session, Partition, body.name, "partition")
    changed: Changed = []
    for field, pool_id in (
        ("vni_range", part.vni_pool),
        ("machine_asn_range", part.machine_asn_pool),
        ("switch_asn_range", part.switch_asn_pool),
    ):
        wanted = getattr(body, field)
        if await pools.resize(session, pool_id, Span(wanted.first, wanted.last), field):
            changed.append(field)
    loopbacks = parse_prefix(body.loopback_prefix, "loopback_prefix")
    if str(loopbacks) != part.loopback_prefix:
        if loopbacks.version != 4:
            raise ValidationError("loopbacks are IPv4 (they are router ids)", "loopback_prefix")
        span = prefix_span(loopbacks, reserve_edges=True)
        fmt = lambda v: str(ipaddress.IPv4Address(v))  # noqa: E731
        await pools.resize(session, part.loopback_pool, span, "loopback_prefix", fmt)
        part.loopback_prefix = str(loopbacks)
        changed.append("loopback_prefix")
    if body.pxe_vlan in range(body.vlan_range.first, body.vlan_range.last + 1):
        raise ValidationError(f"PXE VLAN {body.pxe_vlan} lies inside vlan_range", "pxe_vlan")
    dhcp = [str(a) for a in body.dhcp_relay]
    gateway = str(body.mgmt_gateway) if body.mgmt_gateway else None
    plain: dict[str, tuple[object, object]] = {
        "vlan_range": ((part.vlan_first, part.vlan_last), (body.vlan_range.first, body.vlan_range.last)),
        "pxe_vlan": (part.pxe_vlan, body.pxe_vlan),
        "dhcp_relay": (list(part.dhcp_relay), dhcp),
        "mgmt_gateway": (part.mgmt_gateway, gateway),
    }
    changed += [field for field, (old, new) in plain.items() if old != new]
    part.vlan_first, part.vlan_last = body.vlan_range.first, body.vlan_range.last
    part.pxe_vlan, part.dhcp_relay, part.mgmt_gateway = body.pxe_vlan, dhcp, gateway
    await session.flush()
    if not changed:
        return changed, set()
    switches = (await session.execute(select(Switch.name).where(Switch.partition == body.name))).scalars()
    return changed, {("switch", s) for s in switches}


def _address(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


async def update_project(session: AsyncSession, body: ProjectCreate) -> tuple[Changed, Touched]:
    """A project's description."""
    project = await inventory.get(session, Project, body.name, "project")
    if project.description == body.description:
        return [], set()
    project.description = body.description
    await session.flush()
    return ["description"], set()


async def update_network(session: AsyncSession, body: NetworkCreate) -> tuple[Changed, Touched]:
    """Prefixes without allocations come and go, a VNI moves while nothing is attached, policy fields
    (NAT, destination and extra prefixes, default child lengths) change freely."""
    net = await inventory.get(session, Network, body.name, "network")
    for field in ("partition", "kind", "parent", "project"):
        immutable("network", net.name, field, getattr(net, field), getattr(body, field))
    users = await attached(session, net.name)
    changed: Changed = []
    if body.vni is not None and body.vni != net.vni:
        await _move_vni(session, net, body.vni, users)
        changed.append("vni")
    if net.kind == "private":
        await _check_lengths(session, net, body)
    elif await _prefixes(session, net, body):
        changed.append("prefixes")
    for i, text in enumerate(body.destination_prefixes):
        parse_prefix(text, f"destination_prefixes[{i}]")
    for i, text in enumerate(body.extra_prefixes):
        parse_allowed(text, f"extra_prefixes[{i}]")
    plain = {
        "nat": body.nat,
        "destination_prefixes": list(body.destination_prefixes),
        "extra_prefixes": list(body.extra_prefixes),
        "child_length_v4": body.child_lengths.get("4"),
        "child_length_v6": body.child_lengths.get("6"),
    }
    for field, value in plain.items():
        if getattr(net, field) != value:
            setattr(net, field, value)
            changed.append("child_lengths" if field.startswith("child_length") else field)
    await session.flush()
    touched: Touched = set()
    for machine, role in users.items():
        touched |= {(role, machine)} | await leaves_of(session, machine)
    return sorted(set(changed)), touched if changed else set()


async def _move_vni(session: AsyncSession, net: Network, vni: int, users: dict[str, str]) -> None:
    if net.vni is None:
        raise ValidationError(f"a {net.kind} network has no VNI", "vni")
    if users:
        raise Conflict(
            f"the VNI of network {net.name} cannot change while {', '.join(sorted(users))} "
            "are attached to it (free them first)",
            "vni",
        )
    part = await inventory.get(session, Partition, net.partition, "partition", "partition")
    await pools.take_at(session, part.vni_pool, vni, asked=f"VNI {vni}")
    await pools.release(session, part.vni_pool, net.vni)
    net.vni = vni


async def _check_lengths(session: AsyncSession, net: Network, body: NetworkCreate) -> None:
    if body.prefixes:
        raise ValidationError("a private network's prefixes are allocated from its parent", "prefixes")
    carved = (await session.execute(select(Prefix.cidr).where(Prefix.network == net.name))).scalars()
    have = {str(ipaddress.ip_network(c).version): ipaddress.ip_network(c).prefixlen for c in carved}
    for fam, length in body.lengths.items():
        if have.get(fam) != length:
            raise ValidationError(
                f"network {net.name}'s IPv{fam} prefix is carved already (/{have.get(fam)}); a carved "
                "prefix cannot change length: delete the network and create it again",
                f"lengths.{fam}",
            )


async def _prefixes(session: AsyncSession, net: Network, body: NetworkCreate) -> bool:
    """Add new prefixes, remove dropped ones that hold nothing; True when the set changed."""
    if not body.prefixes:
        raise ValidationError(f"a {net.kind} network needs at least one prefix", "prefixes")
    wanted = {str(parse_prefix(t, f"prefixes[{i}]")): i for i, t in enumerate(body.prefixes)}
    rows = {
        p.cidr: p for p in (await session.execute(select(Prefix).where(Prefix.network == net.name))).scalars()
    }
    for cidr, row in rows.items():
        if cidr in wanted:
            continue
        free, size = await pools.free_count(session, row.pool_id)
        if free != size:
            what = "child prefixes carved" if net.kind == "super" else "addresses allocated"
            raise Conflict(
                f"prefix {cidr} of network {net.name} cannot be removed: it has {what} "
                f"({size - free} of {size} values taken)",
                "prefixes",
            )
        await session.delete(row)
        await session.flush()
        await pools.drop_pool(session, row.pool_id)
    for cidr, i in wanted.items():
        if cidr not in rows:
            prefix = ipaddress.ip_network(cidr)
            await inventory.check_overlap(session, prefix, f"prefixes[{i}]")
            await inventory.add_prefix(session, net.name, prefix, hosts=net.kind != "super")
    return set(wanted) != set(rows)


async def update_switch(session: AsyncSession, body: SwitchCreate) -> tuple[Changed, Touched]:
    """Rack and role change while no allocated machine is cabled to it; ASN and loopback move (the old
    ones go back to their pools); exits are replaced; declared ports are added (the daemon's report
    removes ports)."""
    sw = await inventory.get(session, Switch, body.name, "switch")
    immutable("switch", sw.name, "partition", sw.partition, body.partition)
    part = await inventory.get(session, Partition, sw.partition, "partition", "partition")
    changed: Changed = []
    for field in ("rack", "role"):
        if getattr(sw, field) != getattr(body, field):
            users = await allocated_on(session, sw.name)
            if users:
                raise Conflict(
                    f"the {field} of switch {sw.name} cannot change while {', '.join(users)} "
                    "are allocated on it (free them first)",
                    field,
                )
            setattr(sw, field, getattr(body, field))
            changed.append(field)
    if body.asn is not None and body.asn != sw.asn:
        await _move(session, part.switch_asn_pool, sw.asn, body.asn, f"ASN {body.asn}")
        sw.asn = body.asn
        changed.append("asn")
    if body.loopback is not None and str(body.loopback) != sw.loopback:
        old = int(ipaddress.IPv4Address(sw.loopback))
        await _move(session, part.loopback_pool, old, int(body.loopback), f"loopback {body.loopback}")
        sw.loopback = str(body.loopback)
        changed.append("loopback")
    if sw.sonic_version != body.sonic_version:
        sw.sonic_version = body.sonic_version
        changed.append("sonic_version")
    exits = await exit_rows(session, sw.partition, body.exits)
    if exits != list(sw.exits or []):
        sw.exits = exits
        changed.append("exits")
    have = set((await session.execute(select(SwitchPort.name).where(SwitchPort.switch == sw.name))).scalars())
    for port in sorted(set(body.ports) - have):
        session.add(SwitchPort(switch=sw.name, name=port))
        changed.append("ports")
    await session.flush()
    return sorted(set(changed)), {("switch", sw.name)} if changed else set()


async def _move(session: AsyncSession, pool_id: int, old: int, new: int, asked: str) -> None:
    """Take `new` (when it lies in the pool) and give `old` back (when it came from the pool)."""
    if await pools.in_pool(session, pool_id, new):
        await pools.take_at(session, pool_id, new, asked=asked)
    if await pools.in_pool(session, pool_id, old):
        await pools.release(session, pool_id, old)


async def update_machine(session: AsyncSession, body: MachineCreate) -> tuple[Changed, Touched]:
    """Rack and NICs change while the machine is not allocated (its cabling decides its allocation)."""
    machine = await machine_row(session, body.name)
    immutable("machine", machine.name, "partition", machine.partition, body.partition)
    nics = {
        n.mac: n.name
        for n in (await session.execute(select(Nic).where(Nic.machine == machine.name))).scalars()
    }
    wanted = {n.mac: n.name for n in body.nics}
    changed = [f for f, differs in (("rack", machine.rack != body.rack), ("nics", nics != wanted)) if differs]
    if not changed:
        return [], set()
    if machine.role is not None:
        raise Conflict(
            f"machine {machine.name} is allocated (as a {machine.role}): free it before changing its "
            f"{' and '.join(changed)}",
            changed[0],
        )
    before = await leaves_of(session, machine.name)
    for i, nic in enumerate(body.nics):
        owner = (await session.execute(select(Nic.machine).where(Nic.mac == nic.mac))).scalar_one_or_none()
        if owner not in (None, machine.name):
            raise Conflict(f"MAC {nic.mac} belongs to machine {owner}", f"nics[{i}].mac")
    machine.rack = body.rack
    await session.execute(delete(Nic).where(Nic.machine == machine.name))
    await session.flush()
    for nic in body.nics:
        session.add(Nic(mac=nic.mac, machine=machine.name, name=nic.name))
    await session.flush()
    return changed, before | await leaves_of(session, machine.name)
