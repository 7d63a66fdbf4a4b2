"""Switches, their ports, machines, NICs, and the cabling learned from LLDP."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import pools
from fabric.adapters.store.bodies import ExitLink, MachineCreate, SwitchCreate
from fabric.adapters.store.errors import Conflict, NotFound
from fabric.adapters.store.inventory import get
from fabric.adapters.store.schema import Machine, Network, Nic, Partition, Pool, Switch, SwitchPort
from fabric.core.allocation import Cable
from fabric.core.ipam import unkey
from fabric.errors import ValidationError
from fabric.model.status import LldpNeighbour


async def _in_pool(session: AsyncSession, pool_id: int, value: int) -> bool:
    pool = (await session.execute(select(Pool).where(Pool.id == pool_id))).scalar_one()
    return unkey(pool.first) <= value <= unkey(pool.last)


async def exit_rows(session: AsyncSession, partition: str, exits: list[ExitLink]) -> list[dict[str, Any]]:
    """The exits of a switch as stored, once every network they name is an external network with a
    VNI in `partition` (refused otherwise, naming every bad entry)."""
    problems = []
    for i, link in enumerate(exits):
        for name in link.networks:
            net = await session.get(Network, name)
            if net is None or net.partition != partition:
                problems.append((f"exits[{i}].networks", f"no network {name!r} in partition {partition}"))
            elif net.kind != "external" or net.vni is None:
                problems.append((f"exits[{i}].networks", f"{name} is a {net.kind} network, not external"))
    if problems:
        raise ValidationError(problems[0][1], problems[0][0], problems=problems)
    return [link.model_dump(mode="json") for link in exits]


async def create_switch(session: AsyncSession, body: SwitchCreate) -> Switch:
    """A switch: a given ASN/loopback inside the pools is taken there; missing ones are allocated."""
    if await session.get(Switch, body.name) is not None:
        raise Conflict(f"switch {body.name!r} exists already", "name")
    part = await get(session, Partition, body.partition, "partition", "partition")
    assert isinstance(part, Partition)
    if body.asn is None:
        asn = await pools.take(session, part.switch_asn_pool, asked=f"an ASN for switch {body.name}")
    elif await _in_pool(session, part.switch_asn_pool, body.asn):
        asn = await pools.take_at(session, part.switch_asn_pool, body.asn, asked=f"ASN {body.asn}")
    else:
        asn = body.asn
    if body.loopback is None:
        loopback = ipaddress.IPv4Address(
            await pools.take(session, part.loopback_pool, asked=f"a loopback for switch {body.name}")
        )
    elif await _in_pool(session, part.loopback_pool, int(body.loopback)):
        await pools.take_at(
            session, part.loopback_pool, int(body.loopback), asked=f"loopback {body.loopback}"
        )
        loopback = body.loopback
    else:
        loopback = body.loopback
    row = Switch(
        name=body.name,
        partition=body.partition,
        rack=body.rack,
        role=body.role,
        asn=asn,
        loopback=str(loopback),
        sonic_version=body.sonic_version,
        exits=await exit_rows(session, body.partition, body.exits),
    )
    session.add(row)
    await session.flush()
    for port in body.ports:
        session.add(SwitchPort(switch=body.name, name=port))
    await session.flush()
    return row


async def register_ports(session: AsyncSession, switch: str, names: list[str]) -> bool:
    """Make the switch's registered ports exactly `names`; True when that changed anything."""
    have = set((await session.execute(select(SwitchPort.name).where(SwitchPort.switch == switch))).scalars())
    want = set(names)
    if have == want:
        return False
    if have - want:
        await session.execute(
            delete(SwitchPort).where(SwitchPort.switch == switch, SwitchPort.name.in_(have - want))
        )
    for name in sorted(want - have):
        session.add(SwitchPort(switch=switch, name=name))
    await session.flush()
    return True


def _mac(text: str) -> str | None:
    hexdigits = text.lower().replace(":", "").replace("-", "").replace(".", "")
    if len(hexdigits) != 12 or any(c not in "0123456789abcdef" for c in hexdigits):
        return None
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


async def learn_lldp(session: AsyncSession, switch: str, neighbours: list[LldpNeighbour]) -> set[str]:
    """Update the cabling of `switch` from its LLDP neighbours; return the machines whose cabling
    changed.  A neighbour is a machine NIC when its port id (or chassis id) is a known NIC MAC, and a
    switch when its system name is a known switch.  A port that hears nothing keeps an allocated
    machine's NIC (its link is down); otherwise what a port hears is its cabling."""
    ports = {
        p.name: p
        for p in (await session.execute(select(SwitchPort).where(SwitchPort.switch == switch))).scalars()
    }
    heard = {n.port: n for n in neighbours}
    macs = {m for n in neighbours for m in (_mac(n.port_id), _mac(n.chassis_id)) if m}
    nic_owner = dict(
        (await session.execute(select(Nic.mac, Nic.machine).where(Nic.mac.in_(macs)))).all() if macs else []
    )
    switches = set((await session.execute(select(Switch.name))).scalars())
    held = await _allocated_nics(session, {p.neighbour_mac for p in ports.values() if p.neighbour_mac})
    touched: set[str] = set()
    for name, port in ports.items():
        n = heard.get(name)
        if n is None and port.neighbour_mac in held:
            # A silent port is a link down, not a recabling: an allocated machine keeps its port (and
            # the switch its configuration) until another neighbour is heard there or it is freed.
            continue
        mac = next((m for m in ((_mac(n.port_id), _mac(n.chassis_id)) if n else ()) if m in nic_owner), None)
        new = (
            (n.sys_name, n.port_id, None)
            if n and n.sys_name in switches and n.sys_name != switch
            else (None, None, mac)
        )
        old = (port.neighbour_switch, port.neighbour_port, port.neighbour_mac)
        if new != old:
            for m in (old[2], new[2]):
                if m is not None:
                    owner = nic_owner.get(m) or await _owner(session, m)
                    if owner:
                        touched.add(owner)
            port.neighbour_switch, port.neighbour_port, port.neighbour_mac = new
    await session.flush()
    return touched


async def _allocated_nics(session: AsyncSession, macs: set[str]) -> set[str]:
    """Those of `macs` that belong to an allocated machine or firewall."""
    if not macs:
        return set()
    rows = await session.execute(
        select(Nic.mac)
        .join(Machine, Machine.name == Nic.machine)
        .where(Nic.mac.in_(macs), Machine.role.is_not(None))
    )
    return set(rows.scalars())


async def _owner(session: AsyncSession, mac: str) -> str | None:
    return (await session.execute(select(Nic.machine).where(Nic.mac == mac))).scalar_one_or_none()


async def create_machine(session: AsyncSession, body: MachineCreate) -> Machine:
    """A machine with its NICs (MACs are unique across the store)."""
    if await session.get(Machine, body.name) is not None:
        raise Conflict(f"machine {body.name!r} exists already", "name")
    await get(session, Partition, body.partition, "partition", "partition")
    for i, nic in enumerate(body.nics):
        owner = await _owner(session, nic.mac)
        if owner is not None:
            raise Conflict(f"MAC {nic.mac} belongs to machine {owner}", f"nics[{i}].mac")
    row = Machine(name=body.name, partition=body.partition, rack=body.rack)
    session.add(row)
    await session.flush()
    for nic in body.nics:
        session.add(Nic(mac=nic.mac, machine=body.name, name=nic.name))
    await session.flush()
    return row


async def cabling(session: AsyncSession, machine: str) -> list[Cable]:
    """The switch ports the machine's NICs are cabled to (learned from LLDP)."""
    rows = await session.execute(
        select(SwitchPort.switch, SwitchPort.name, Nic.name, Switch.role, Switch.rack)
        .join(Nic, Nic.mac == SwitchPort.neighbour_mac)
        .join(Switch, Switch.name == SwitchPort.switch)
        .where(Nic.machine == machine)
        .order_by(Nic.name)
    )
    return [Cable(*r) for r in rows.all()]


async def machine_row(session: AsyncSession, name: str, path: str = "name") -> Machine:
    """The machine called `name`, or `NotFound`."""
    row = await session.get(Machine, name)
    if row is None:
        raise NotFound("machine", name, path)
    return row
