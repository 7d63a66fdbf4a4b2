"""Load the records one document is built from: only that switch, machine or firewall's rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.hardware import cabling
from fabric.adapters.store.schema import (
    Ip,
    Machine,
    MachineNetwork,
    Network,
    Nic,
    Partition,
    Prefix,
    Switch,
    SwitchPort,
)
from fabric.core.state import (
    MachineRecord,
    NetworkRecord,
    PartitionRecord,
    PortRecord,
    SwitchRecord,
    SwitchView,
)


async def network_record(session: AsyncSession, net: Network) -> NetworkRecord:
    """A network with its prefixes."""
    prefixes = (await session.execute(select(Prefix.cidr).where(Prefix.network == net.name))).scalars().all()
    return NetworkRecord(
        name=net.name,
        kind=net.kind,
        vni=net.vni,
        prefixes=tuple(sorted(prefixes)),
        destination_prefixes=tuple(net.destination_prefixes),
        nat=net.nat,
        extra_prefixes=tuple(net.extra_prefixes),
    )


async def machine_record(session: AsyncSession, name: str) -> MachineRecord | None:
    """A machine with its allocation, or None when it does not exist."""
    machine = await session.get(Machine, name)
    if machine is None:
        return None
    ips = (await session.execute(select(Ip.address).where(Ip.machine == name))).scalars().all()
    nets = (
        (
            await session.execute(
                select(Network)
                .join(MachineNetwork, MachineNetwork.network == Network.name)
                .where(MachineNetwork.machine == name)
                .order_by(Network.name)
            )
        )
        .scalars()
        .all()
    )
    project_ips: list[str] = []
    if machine.project is not None and machine.role == "machine":
        project_ips = list(
            (
                await session.execute(
                    select(Ip.address)
                    .join(Network, Network.name == Ip.network)
                    .where(Ip.project == machine.project, Ip.machine.is_(None), Network.kind == "external")
                )
            )
            .scalars()
            .all()
        )
    nics = [c.nic for c in await cabling(session, name) if c.role == "leaf"]
    return MachineRecord(
        name=name,
        role=machine.role,
        asn=machine.asn,
        ips=tuple(sorted(ips)),
        networks=tuple([await network_record(session, n) for n in nets]),
        project_ips=tuple(sorted(project_ips)),
        nics=tuple(sorted(set(nics))),
    )


def partition_record(part: Partition, vni_first: int, vni_last: int) -> PartitionRecord:
    """The partition's ranges as switches need them."""
    return PartitionRecord(
        name=part.name,
        vni_first=vni_first,
        vni_last=vni_last,
        vlan_first=part.vlan_first,
        vlan_last=part.vlan_last,
        pxe_vlan=part.pxe_vlan,
        dhcp_relay=tuple(part.dhcp_relay),
        mgmt_gateway=part.mgmt_gateway,
    )


async def switch_view(session: AsyncSession, name: str) -> SwitchView | None:
    """The switch, its ports and the machines cabled to them, or None when it does not exist."""
    from fabric.adapters.store.schema import Pool
    from fabric.core.ipam import unkey

    sw = await session.get(Switch, name)
    if sw is None:
        return None
    part = await session.get(Partition, sw.partition)
    assert part is not None
    vni = (await session.execute(select(Pool).where(Pool.id == part.vni_pool))).scalar_one()
    rows = (
        await session.execute(
            select(SwitchPort, Nic.machine)
            .outerjoin(Nic, Nic.mac == SwitchPort.neighbour_mac)
            .where(SwitchPort.switch == name)
        )
    ).all()
    ports, machines = [], {}
    for port, machine in rows:
        ports.append(
            PortRecord(
                name=port.name,
                neighbour_switch=port.neighbour_switch,
                neighbour_port=port.neighbour_port,
                neighbour_machine=machine,
                admin_down=port.admin_down,
            )
        )
        if machine is not None and machine not in machines:
            record = await machine_record(session, machine)
            if record is not None:
                machines[machine] = record
    return SwitchView(
        partition=partition_record(part, unkey(vni.first), unkey(vni.last)),
        switch=SwitchRecord(sw.name, sw.role, sw.rack, sw.asn, sw.loopback, sw.sonic_version, sw.paused),
        ports=tuple(ports),
        machines=machines,
    )
