"""Deletes of objects that hold nothing allocated; otherwise refused, naming what still holds on.

What an object took from a pool when it was created (a network's VNI and child prefixes, a switch's
ASN and loopback) goes back to that pool in the same transaction.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import inventory, pools
from fabric.adapters.store.allocation import leaves_of
from fabric.adapters.store.errors import Conflict
from fabric.adapters.store.hardware import machine_row
from fabric.adapters.store.schema import (
    Ip,
    Machine,
    MachineNetwork,
    Network,
    Nic,
    Partition,
    Prefix,
    Project,
    Status,
    Switch,
    SwitchPort,
)
from fabric.adapters.store.updates import allocated_on, attached

Touched = set[tuple[str, str]]


async def _names(session: AsyncSession, column: Any, where: Any) -> list[str]:
    return sorted((await session.execute(select(column).where(where))).scalars())


def _refuse(what: str, name: str, holders: dict[str, list[str]]) -> None:
    held = {k: v for k, v in holders.items() if v}
    if held:
        parts = "; ".join(f"{k}: {', '.join(v[:5])}{' …' if len(v) > 5 else ''}" for k, v in held.items())
        raise Conflict(f"{what} {name} cannot be deleted: it still has {parts}", "name")


async def _delete_unheld(
    session: AsyncSession, model: Any, what: str, name: str, holders: dict[str, tuple[Any, Any]]
) -> Any:
    """Delete the `what` row `name` unless a holder (label: (column, where)) selects rows; the row."""
    row = await inventory.get(session, model, name, what)
    _refuse(what, name, {label: await _names(session, *query) for label, query in holders.items()})
    await session.delete(row)
    await session.flush()
    return row


async def delete_partition(session: AsyncSession, name: str) -> Touched:
    """A partition without networks, switches or machines, and its four pools."""
    holders = {
        "networks": (Network.name, Network.partition == name),
        "switches": (Switch.name, Switch.partition == name),
        "machines": (Machine.name, Machine.partition == name),
    }
    part = await _delete_unheld(session, Partition, "partition", name, holders)
    for pool_id in (part.vni_pool, part.machine_asn_pool, part.switch_asn_pool, part.loopback_pool):
        await pools.drop_pool(session, pool_id)
    return set()


async def delete_project(session: AsyncSession, name: str) -> Touched:
    """A project that owns no network, IP or machine."""
    holders = {
        "networks": (Network.name, Network.project == name),
        "IPs": (Ip.address, Ip.project == name),
        "machines": (Machine.name, Machine.project == name),
    }
    await _delete_unheld(session, Project, "project", name, holders)
    return set()


async def delete_network(session: AsyncSession, name: str) -> Touched:
    """A network without IPs, attached machines or child networks; its VNI and carved prefixes go back."""
    net = await inventory.get(session, Network, name, "network")
    _refuse(
        "network",
        name,
        {
            "IPs": await _names(session, Ip.address, Ip.network == name),
            "machines and firewalls attached": sorted(await attached(session, name)),
            "child networks": await _names(session, Network.name, Network.parent == name),
            "switches whose exits route it": await exits_routing(session, name),
        },
    )
    for prefix in (await session.execute(select(Prefix).where(Prefix.network == name))).scalars().all():
        await session.delete(prefix)
        await session.flush()
        await pools.drop_pool(session, prefix.pool_id)
        if prefix.parent is not None:
            parent = await session.get(Prefix, prefix.parent)
            child = ipaddress.ip_network(prefix.cidr)
            assert parent is not None
            await pools.release(session, parent.pool_id, int(child.network_address), child.num_addresses)
    if net.vni is not None:
        part = await inventory.get(session, Partition, net.partition, "partition", "partition")
        await pools.release(session, part.vni_pool, net.vni)
    await session.delete(net)
    await session.flush()
    return set()


async def exits_routing(session: AsyncSession, network: str) -> list[str]:
    """Switches with an exit router declared to route `network`."""
    rows = (await session.execute(select(Switch.name, Switch.exits))).all()
    return sorted(name for name, exits in rows if any(network in e["networks"] for e in exits or []))


async def delete_switch(session: AsyncSession, name: str) -> Touched:
    """A switch no allocated machine is cabled to; its ASN and loopback go back to the pools, its
    document is removed, and switches that heard it as an uplink forget it."""
    sw = await inventory.get(session, Switch, name, "switch")
    _refuse("switch", name, {"allocated machines cabled to it": await allocated_on(session, name)})
    part = await inventory.get(session, Partition, sw.partition, "partition", "partition")
    if await pools.in_pool(session, part.switch_asn_pool, sw.asn):
        await pools.release(session, part.switch_asn_pool, sw.asn)
    loopback = int(ipaddress.IPv4Address(sw.loopback))
    if await pools.in_pool(session, part.loopback_pool, loopback):
        await pools.release(session, part.loopback_pool, loopback)
    peers = await _names(session, SwitchPort.switch, SwitchPort.neighbour_switch == name)
    await session.execute(
        update(SwitchPort)
        .where(SwitchPort.neighbour_switch == name)
        .values(neighbour_switch=None, neighbour_port=None)
    )
    await session.execute(delete(SwitchPort).where(SwitchPort.switch == name))
    await session.execute(delete(Status).where(Status.kind == "switch", Status.name == name))
    await session.delete(sw)
    await session.flush()
    return {("switch", name)} | {("switch", p) for p in peers}


async def delete_machine(session: AsyncSession, name: str) -> Touched:
    """A machine that is not allocated, with its NICs (the leaves it was cabled to are recomputed)."""
    machine = await machine_row(session, name)
    if machine.role is not None:
        raise Conflict(
            f"machine {name} cannot be deleted: it is allocated (as a {machine.role}); free it first", "name"
        )
    touched = await leaves_of(session, name)
    await session.execute(delete(MachineNetwork).where(MachineNetwork.machine == name))
    await session.execute(delete(Nic).where(Nic.machine == name))
    await session.execute(delete(Status).where(Status.kind == "firewall", Status.name == name))
    await session.delete(machine)
    await session.flush()
    return touched
