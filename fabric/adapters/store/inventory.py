"""Partitions, projects, networks, prefixes and IPs: the IPAM side of the store.

Every function takes the session of the caller's transaction and raises before it writes anything it
could not finish (the transaction rolls back otherwise), so an intent is all-or-nothing.
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import nextfree, pools
from fabric.adapters.store.bodies import IpAcquire, NetworkCreate, PartitionCreate, ProjectCreate
from fabric.adapters.store.errors import Conflict, NotFound
from fabric.adapters.store.schema import Ip, Network, Partition, Prefix, Project
from fabric.core.ipam import Network as IPNet
from fabric.core.ipam import Span, block_size, parse_address, parse_allowed, parse_prefix, prefix_span
from fabric.errors import AllocationError, ValidationError

T = TypeVar("T")


async def get(session: AsyncSession, table: type[T], name: str, what: str, path: str = "name") -> T:
    """The row of `table` with primary key `name`, or `NotFound` naming `path`."""
    row = await session.get(table, name)
    if row is None:
        raise NotFound(what, name, path)
    return row


async def create_partition(session: AsyncSession, body: PartitionCreate) -> Partition:
    """A partition with its VNI, ASN and loopback pools."""
    if await session.get(Partition, body.name) is not None:
        raise Conflict(f"partition {body.name!r} exists already", "name")
    loopbacks = parse_prefix(body.loopback_prefix, "loopback_prefix")
    if loopbacks.version != 4:
        raise ValidationError("loopbacks are IPv4 (they are router ids)", "loopback_prefix")
    if body.pxe_vlan in range(body.vlan_range.first, body.vlan_range.last + 1):
        raise ValidationError(f"PXE VLAN {body.pxe_vlan} lies inside vlan_range", "pxe_vlan")
    base = f"partition/{body.name}"
    row = Partition(
        name=body.name,
        vni_pool=await pools.create_pool(
            session, f"{base}/vni", Span(body.vni_range.first, body.vni_range.last)
        ),
        machine_asn_pool=await pools.create_pool(
            session, f"{base}/machine-asn", Span(body.machine_asn_range.first, body.machine_asn_range.last)
        ),
        switch_asn_pool=await pools.create_pool(
            session, f"{base}/switch-asn", Span(body.switch_asn_range.first, body.switch_asn_range.last)
        ),
        loopback_pool=await pools.create_pool(
            session, f"{base}/loopbacks", prefix_span(loopbacks, reserve_edges=True)
        ),
        loopback_prefix=str(loopbacks),
        vlan_first=body.vlan_range.first,
        vlan_last=body.vlan_range.last,
        pxe_vlan=body.pxe_vlan,
        dhcp_relay=[str(a) for a in body.dhcp_relay],
        mgmt_gateway=str(body.mgmt_gateway) if body.mgmt_gateway else None,
    )
    session.add(row)
    await session.flush()
    return row


async def create_project(session: AsyncSession, body: ProjectCreate) -> Project:
    """A project (tenant)."""
    if await session.get(Project, body.name) is not None:
        raise Conflict(f"project {body.name!r} exists already", "name")
    row = Project(name=body.name, description=body.description)
    session.add(row)
    await session.flush()
    return row


async def check_overlap(session: AsyncSession, net: IPNet, path: str) -> None:
    # Top-level prefixes are few (one or two per network); children are carved from their parent's
    # pool and cannot overlap by construction.
    for cidr, network in (await session.execute(select(Prefix.cidr, Prefix.network))).all():
        other = ipaddress.ip_network(cidr)
        if other.version == net.version and other.overlaps(net):
            raise Conflict(f"{net} overlaps {other} of network {network}", path)


async def add_prefix(
    session: AsyncSession, network: str, net: IPNet, *, hosts: bool, parent: str | None = None
) -> Prefix:
    pool = await pools.create_pool(session, f"network/{network}/{net}", prefix_span(net, reserve_edges=hosts))
    row = Prefix(cidr=str(net), network=network, pool_id=pool, parent=parent, family=net.version)
    session.add(row)
    await session.flush()
    return row


async def create_network(session: AsyncSession, body: NetworkCreate) -> tuple[Network, list[Prefix]]:
    """A network with its prefixes (given, or carved from the super network) and its VNI."""
    if await session.get(Network, body.name) is not None:
        raise Conflict(f"network {body.name!r} exists already", "name")
    part = await get(session, Partition, body.partition, "partition", "partition")
    assert isinstance(part, Partition)
    if body.project is not None:
        await get(session, Project, body.project, "project", "project")
    for i, text in enumerate(body.destination_prefixes):
        parse_prefix(text, f"destination_prefixes[{i}]")
    for i, text in enumerate(body.extra_prefixes):
        parse_allowed(text, f"extra_prefixes[{i}]")
    vni = await _vni(session, body, part)
    row = Network(
        name=body.name,
        partition=body.partition,
        kind=body.kind,
        project=body.project,
        parent=body.parent,
        vni=vni,
        nat=body.nat,
        destination_prefixes=list(body.destination_prefixes),
        extra_prefixes=list(body.extra_prefixes),
        child_length_v4=body.child_lengths.get("4"),
        child_length_v6=body.child_lengths.get("6"),
    )
    session.add(row)
    await session.flush()
    if body.kind == "private":
        prefixes = await _carve_children(session, body)
    else:
        if not body.prefixes:
            raise ValidationError(f"a {body.kind} network needs at least one prefix", "prefixes")
        prefixes = []
        for i, text in enumerate(body.prefixes):
            net = parse_prefix(text, f"prefixes[{i}]")
            await check_overlap(session, net, f"prefixes[{i}]")
            prefixes.append(await add_prefix(session, body.name, net, hosts=body.kind != "super"))
    return row, prefixes


async def _vni(session: AsyncSession, body: NetworkCreate, part: Partition) -> int | None:
    if body.kind not in ("private", "external"):
        if body.vni is not None:
            raise ValidationError(f"a {body.kind} network has no VNI", "vni")
        return None
    if body.vni is not None:
        return await pools.take_at(session, part.vni_pool, body.vni, asked=f"VNI {body.vni}")
    return await pools.take(session, part.vni_pool, asked=f"a VNI for network {body.name}")


async def _carve_children(session: AsyncSession, body: NetworkCreate) -> list[Prefix]:
    if body.parent is None:
        raise ValidationError("a private network is carved from a super network: give parent", "parent")
    if body.project is None:
        raise ValidationError("a private network belongs to a project", "project")
    if body.prefixes:
        raise ValidationError("a private network's prefixes are allocated from its parent", "prefixes")
    parent = await get(session, Network, body.parent, "network", "parent")
    assert isinstance(parent, Network)
    if parent.kind != "super" or parent.partition != body.partition:
        raise ValidationError(f"{body.parent} is not a super network of partition {body.partition}", "parent")
    defaults = {"4": parent.child_length_v4, "6": parent.child_length_v6}
    lengths = {fam: body.lengths.get(fam, dflt) for fam, dflt in defaults.items()}  # type: ignore[call-overload]
    parents = (await session.execute(select(Prefix).where(Prefix.network == parent.name))).scalars().all()
    out = []
    for fam, length in sorted(lengths.items()):
        if length is None:
            continue
        candidates = [p for p in parents if str(p.family) == fam]
        if not candidates:
            raise ValidationError(f"super network {parent.name} has no IPv{fam} prefix", f"lengths.{fam}")
        out.append(await _carve_one(session, body.name, candidates, int(length), fam))
    if not out:
        raise ValidationError("no child length given and the parent has no default", "lengths")
    return out


async def _carve_one(
    session: AsyncSession, network: str, parents: list[Prefix], length: int, fam: str
) -> Prefix:
    error: AllocationError | None = None
    for parent in parents:
        pnet = ipaddress.ip_network(parent.cidr)
        size = block_size(pnet.max_prefixlen, length, pnet.prefixlen, f"lengths.{fam}")
        try:
            start = await pools.take(
                session, parent.pool_id, size, asked=f"a /{length} for network {network}"
            )
        except AllocationError as exc:
            error = exc
            continue
        child = ipaddress.ip_network((start, length))
        return await add_prefix(session, network, child, hosts=True, parent=parent.cidr)
    assert error is not None
    raise error


async def acquire_ip(session: AsyncSession, body: IpAcquire, machine: str | None = None) -> Ip:
    """A given address or the next free one of `body.network` (family `body.family`).

    The next free address of the network's own project goes through the one-statement path
    (`nextfree`); everything else, and whatever that path cannot do, through the general one here.
    """
    if body.address is None and body.project is None:
        fast = await nextfree.acquire_next(
            session, body.network, body.family, machine=machine, kind=body.kind, name=body.name
        )
        if fast is not None:
            return fast
    # One statement reads the network and its prefixes: every round trip counts on this hot path.
    rows = (
        await session.execute(
            select(Network.kind, Network.project, Prefix.cidr, Prefix.pool_id, Prefix.family, Prefix.parent)
            .outerjoin(Prefix, Prefix.network == Network.name)
            .where(Network.name == body.network)
        )
    ).all()
    if not rows:
        raise NotFound("network", body.network, "network")
    kind, owner = rows[0].kind, rows[0].project
    project = body.project or owner
    if project is not None and project != owner:
        await get(session, Project, project, "project", "project")
    if kind == "super":
        raise ValidationError(
            f"{body.network} is a super network: IPs come from its private networks", "network"
        )
    prefixes = [
        Prefix(cidr=r.cidr, pool_id=r.pool_id, family=r.family, parent=r.parent) for r in rows if r.cidr
    ]
    if body.address is not None:
        addr = parse_address(body.address)
        home = next((p for p in prefixes if addr in ipaddress.ip_network(p.cidr)), None)
        if home is None:
            raise ValidationError(f"{addr} is outside every prefix of network {body.network}", "address")
        await pools.take_at(session, home.pool_id, int(addr), asked=f"address {addr}")
    else:
        candidates = [p for p in prefixes if p.family == body.family]
        if not candidates:
            raise ValidationError(f"network {body.network} has no IPv{body.family} prefix", "family")
        addr, home = await _next_free(session, candidates, body.network)
    values = {
        "address": str(addr),
        "pool_id": home.pool_id,
        "key": f"{int(addr):032x}",
        "network": body.network,
        "project": project,
        "machine": machine,
        "kind": body.kind,
        "name": body.name,
    }
    # A Core insert: the ORM's unit of work costs more than the statement on this hot path.
    await session.execute(insert(Ip).values(**values))
    return Ip(**values)


async def _next_free(
    session: AsyncSession, prefixes: list[Prefix], network: str
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, Prefix]:
    error: AllocationError | None = None
    for prefix in prefixes:
        try:
            value = await pools.take(session, prefix.pool_id, asked=f"an address in network {network}")
        except AllocationError as exc:
            error = exc
            continue
        return ipaddress.ip_address(value if prefix.family == 4 else ipaddress.IPv6Address(value)), prefix
    assert error is not None
    raise error


async def release_ip(session: AsyncSession, address: str) -> Ip:
    """Delete an IP and give its address back to its pool."""
    row = await session.get(Ip, str(parse_address(address)))
    if row is None:
        raise NotFound("IP", address, "address")
    await pools.release(session, row.pool_id, int(ipaddress.ip_address(row.address)))
    await session.delete(row)
    await session.flush()
    return row
