"""Machine and firewall allocation and free: networks, IPs and one ASN, all in one transaction."""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import pools
from fabric.adapters.store.bodies import FirewallAllocate, IpAcquire, MachineAllocate
from fabric.adapters.store.errors import Conflict
from fabric.adapters.store.hardware import cabling, machine_row
from fabric.adapters.store.inventory import acquire_ip, get, release_ip
from fabric.adapters.store.schema import (
    Ip,
    Machine,
    MachineNetwork,
    Network,
    Nic,
    Partition,
    Prefix,
    Project,
    SwitchPort,
)
from fabric.core.allocation import (
    AskedNetwork,
    check_dual_attached,
    check_firewall_networks,
    check_machine_networks,
)
from fabric.errors import ValidationError

Touched = set[tuple[str, str]]


async def leaves_of(session: AsyncSession, machine: str) -> Touched:
    """The switch documents a machine's cabling touches."""
    return {("switch", c.switch) for c in await cabling(session, machine)}


async def _networks(session: AsyncSession, names: list[str], partition: str) -> list[Network]:
    out = []
    for i, name in enumerate(names):
        net = await get(session, Network, name, "network", f"networks[{i}]")
        assert isinstance(net, Network)
        if net.partition != partition:
            raise ValidationError(f"network {name} is in partition {net.partition}", f"networks[{i}]")
        out.append(net)
    return out


def _asked(nets: list[Network]) -> list[AskedNetwork]:
    return [AskedNetwork(n.name, n.kind, n.project) for n in nets]


async def allocate_machine(session: AsyncSession, name: str, body: MachineAllocate) -> Touched:
    """Allocate `name` into a project: its private network, external ones, IPs and one ASN."""
    machine = await machine_row(session, name)
    if machine.role is not None:
        raise Conflict(f"machine {name} is allocated already (to project {machine.project})", "name")
    await get(session, Project, body.project, "project", "project")
    nets = await _networks(session, body.networks, machine.partition)
    check_machine_networks(body.project, _asked(nets))
    check_dual_attached(name, await cabling(session, name))
    part = await session.get(Partition, machine.partition)
    assert part is not None
    machine.asn = await pools.take(session, part.machine_asn_pool, asked=f"an ASN for machine {name}")
    machine.role, machine.project = "machine", body.project
    await _acquire_ips(session, name, body, nets)
    for net in nets:
        session.add(MachineNetwork(machine=name, network=net.name))
    await session.flush()
    return {("machine", name)} | await leaves_of(session, name)


async def _acquire_ips(session: AsyncSession, name: str, body: MachineAllocate, nets: list[Network]) -> None:
    given: dict[str, list[str]] = {}
    for i, text in enumerate(body.ips):
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise ValidationError(f"{text!r} is not an address", f"ips[{i}]") from None
        home = await _network_of(session, addr, nets)
        if home is None:
            raise ValidationError(f"{addr} is in none of the machine's networks", f"ips[{i}]")
        given.setdefault(home, []).append(str(addr))
    for net in nets:
        for addr_text in given.get(net.name, []):
            await acquire_ip(
                session, IpAcquire(network=net.name, address=addr_text, project=body.project), name
            )
        if net.name in given:
            continue
        families = set(
            (await session.execute(select(Prefix.family).where(Prefix.network == net.name))).scalars().all()
        )
        for family in sorted(families) if net.kind == "private" else [min(families, default=4)]:
            await acquire_ip(
                session,
                IpAcquire(network=net.name, project=body.project, family=family),
                name,
            )


async def _network_of(
    session: AsyncSession, addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: list[Network]
) -> str | None:
    for net in nets:
        cidrs = (await session.execute(select(Prefix.cidr).where(Prefix.network == net.name))).scalars().all()
        if any(addr in ipaddress.ip_network(c) for c in cidrs):
            return net.name
    return None


async def allocate_firewall(session: AsyncSession, name: str, body: FirewallAllocate) -> Touched:
    """Allocate `name` as a firewall serving `networks`, with an underlay address and one ASN."""
    machine = await machine_row(session, name)
    if machine.role is not None:
        raise Conflict(f"machine {name} is allocated already (as a {machine.role})", "name")
    if body.project is not None:
        await get(session, Project, body.project, "project", "project")
    nets = await _networks(session, body.networks, machine.partition)
    check_firewall_networks(_asked(nets))
    underlay = (
        await session.execute(
            select(Network).where(Network.partition == machine.partition, Network.kind == "underlay").limit(1)
        )
    ).scalar_one_or_none()
    if underlay is None:
        raise ValidationError(f"partition {machine.partition} has no underlay network", "networks")
    check_dual_attached(name, await cabling(session, name))
    part = await session.get(Partition, machine.partition)
    assert part is not None
    machine.asn = await pools.take(session, part.machine_asn_pool, asked=f"an ASN for firewall {name}")
    machine.role, machine.project = "firewall", body.project
    await acquire_ip(session, IpAcquire(network=underlay.name, project=body.project), name)
    for net in [*nets, underlay]:
        session.add(MachineNetwork(machine=name, network=net.name))
    await session.flush()
    return {("firewall", name)} | await leaves_of(session, name)


async def acquire_firewall_ip(session: AsyncSession, body: IpAcquire) -> tuple[Ip, Touched]:
    """Attach an address of an external network to the firewall `body.firewall` (given or next free).

    It becomes the firewall's own address there: `FirewallVrf.addresses` of that network's VRF and the
    `to` of its SNAT (instead of masquerade).  Only an allocated firewall, only an external network of
    its partition that it serves; the address belongs to the firewall's project and is released with
    the firewall (`free`) or alone (`release_ip`).
    """
    assert body.firewall is not None
    name = body.firewall
    fw = await machine_row(session, name, "firewall")
    if fw.role != "firewall":
        raise ValidationError(f"machine {name} is not allocated as a firewall", "firewall")
    net = await get(session, Network, body.network, "network", "network")
    assert isinstance(net, Network)
    if net.partition != fw.partition:
        raise ValidationError(
            f"network {net.name} is in partition {net.partition}, firewall {name} in {fw.partition}",
            "network",
        )
    if net.kind != "external":
        raise ValidationError(
            f"network {net.name} is {net.kind}: a firewall's own addresses are in external networks",
            "network",
        )
    if await session.get(MachineNetwork, (name, net.name)) is None:
        raise ValidationError(f"firewall {name} does not serve network {net.name}", "network")
    if body.project is not None and body.project != fw.project:
        raise ValidationError(
            f"the address of firewall {name} belongs to its project ({fw.project or 'none'})", "project"
        )
    ip = await acquire_ip(session, body.model_copy(update={"project": fw.project}), name)
    return ip, {("firewall", name)} | await leaves_of(session, name)


async def free(session: AsyncSession, name: str) -> Touched:
    """Release everything a machine or firewall was given; freeing a free machine changes nothing."""
    machine = await machine_row(session, name)
    touched = await leaves_of(session, name)
    if machine.role is None:
        return touched
    touched.add((machine.role, name))
    for address in (await session.execute(select(Ip.address).where(Ip.machine == name))).scalars().all():
        await release_ip(session, address)
    part = await session.get(Partition, machine.partition)
    assert part is not None and machine.asn is not None
    await pools.release(session, part.machine_asn_pool, machine.asn)
    await session.execute(delete(MachineNetwork).where(MachineNetwork.machine == name))
    machine.role, machine.project, machine.asn = None, None, None
    await session.flush()
    return touched


async def project_ip_documents(session: AsyncSession, project: str) -> Touched:
    """The documents that list the project's external IPs: the leaves carrying its machines (their
    filters let the machines announce them) and its firewalls (they leak them into the external VRF)."""
    # One statement for all the project's machines (a query per machine grew with the project).
    rows = await session.execute(
        select(SwitchPort.switch)
        .distinct()
        .join(Nic, Nic.mac == SwitchPort.neighbour_mac)
        .join(Machine, Machine.name == Nic.machine)
        .where(Machine.project == project, Machine.role == "machine")
    )
    firewalls = await session.execute(
        select(Machine.name).where(Machine.project == project, Machine.role == "firewall")
    )
    leaves = {("switch", name) for name in rows.scalars()}
    return leaves | {("firewall", name) for name in firewalls.scalars()}
