"""Load the records documents are built from: only the rows of the switches and machines asked for.

`Records` is one refresh's loader: it reads the records of many machines in a fixed number of
statements (one per table, whatever the number of machines) and keeps them for the rest of that
refresh, so the two leaves of a rack, which carry the same machines, read them once.  It must only
live inside one transaction, after the intent's writes (`documents.refresh` makes one per call).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.schema import (
    Ip,
    Machine,
    MachineNetwork,
    Network,
    Nic,
    Partition,
    Pool,
    Prefix,
    Switch,
    SwitchPort,
)
from fabric.core.ipam import unkey
from fabric.core.state import (
    ExitRecord,
    MachineRecord,
    NetworkRecord,
    PartitionRecord,
    PortRecord,
    SwitchRecord,
    SwitchView,
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


class Records:
    """The records of one refresh, loaded in batches and kept until the refresh ends."""

    def __init__(self, session: AsyncSession, *, batched: bool = True) -> None:
        self.session = session
        self.batched = batched  # False: one machine at a time, nothing kept (the benchmark's baseline)
        self._machines: dict[str, MachineRecord | None] = {}
        self._partitions: dict[str, PartitionRecord] = {}

    async def machines(self, names: Iterable[str]) -> dict[str, MachineRecord]:
        """The records of the existing machines among `names` (missing ones are left out)."""
        wanted = sorted(set(names))
        if not self.batched:
            loaded = [(await self._load_machines([n]))[n] for n in wanted]
            return {r.name: r for r in loaded if r is not None}
        missing = [n for n in wanted if n not in self._machines]
        if missing:
            self._machines.update(await self._load_machines(missing))
        return {n: r for n in wanted if (r := self._machines.get(n)) is not None}

    async def machine(self, name: str) -> MachineRecord | None:
        """A machine with its allocation, or None when it does not exist."""
        return (await self.machines([name])).get(name)

    async def _load_machines(self, names: list[str]) -> dict[str, MachineRecord | None]:
        s = self.session
        rows = (
            await s.execute(
                select(Machine.name, Machine.role, Machine.asn, Machine.project).where(
                    Machine.name.in_(names)
                )
            )
        ).all()
        ips: dict[str | None, list[str]] = defaultdict(list)
        for machine, address in await s.execute(select(Ip.machine, Ip.address).where(Ip.machine.in_(names))):
            ips[machine].append(address)
        nets = await self._networks(names)
        nics: dict[str, set[str]] = defaultdict(set)
        cabled = (
            select(Nic.machine, Nic.name)
            .join(SwitchPort, SwitchPort.neighbour_mac == Nic.mac)
            .join(Switch, Switch.name == SwitchPort.switch)
            .where(Nic.machine.in_(names), Switch.role == "leaf")
        )
        for machine, nic in await s.execute(cabled):
            nics[machine].add(nic)
        projects = {r.project for r in rows if r.project is not None and r.role is not None}
        project_ips = await self._project_ips(projects)
        out: dict[str, MachineRecord | None] = dict.fromkeys(names)
        for r in rows:
            announced = project_ips.get(r.project, []) if r.role is not None and r.project else []
            out[r.name] = MachineRecord(
                name=r.name,
                role=r.role,
                asn=r.asn,
                ips=tuple(sorted(ips[r.name])),
                networks=tuple(nets[r.name]),
                project_ips=tuple(sorted(announced)),
                nics=tuple(sorted(nics[r.name])),
            )
        return out

    async def _networks(self, names: list[str]) -> dict[str, list[NetworkRecord]]:
        """Each machine's networks (by name), with their prefixes."""
        s = self.session
        # Plain columns, not ORM entities: building 64 identity-mapped rows costs more than the query.
        joined = (
            select(
                MachineNetwork.machine,
                Network.name,
                Network.kind,
                Network.vni,
                Network.destination_prefixes,
                Network.nat,
                Network.extra_prefixes,
            )
            .join(Network, Network.name == MachineNetwork.network)
            .where(MachineNetwork.machine.in_(names))
            .order_by(MachineNetwork.machine, Network.name)
        )
        rows = (await s.execute(joined)).all()
        used = sorted({r.name for r in rows})
        prefixes: dict[str, list[str]] = defaultdict(list)
        if used:
            for network, cidr in await s.execute(
                select(Prefix.network, Prefix.cidr).where(Prefix.network.in_(used))
            ):
                prefixes[network].append(cidr)
        records = {
            r.name: NetworkRecord(
                name=r.name,
                kind=r.kind,
                vni=r.vni,
                prefixes=tuple(sorted(prefixes[r.name])),
                destination_prefixes=tuple(r.destination_prefixes),
                nat=r.nat,
                extra_prefixes=tuple(r.extra_prefixes),
            )
            for r in rows
        }
        out: dict[str, list[NetworkRecord]] = defaultdict(list)
        for r in rows:
            out[r.machine].append(records[r.name])
        return out

    async def _project_ips(self, projects: set[str]) -> dict[str | None, list[str]]:
        """Per project, its external IPs held by no machine: load-balancer IPs, which its machines may
        announce and its firewalls leak into the external network."""
        out: dict[str | None, list[str]] = defaultdict(list)
        if not projects:
            return out
        rows = await self.session.execute(
            select(Ip.project, Ip.address)
            .join(Network, Network.name == Ip.network)
            .where(Ip.project.in_(sorted(projects)), Ip.machine.is_(None), Network.kind == "external")
        )
        for project, address in rows:
            out[project].append(address)
        return out

    async def partition(self, name: str) -> PartitionRecord:
        """A partition's record (read once per refresh)."""
        if name not in self._partitions:
            part = await self.session.get(Partition, name)
            assert part is not None
            vni = (await self.session.execute(select(Pool).where(Pool.id == part.vni_pool))).scalar_one()
            self._partitions[name] = partition_record(part, unkey(vni.first), unkey(vni.last))
        return self._partitions[name]

    async def exits(self, rows: list[dict[str, Any]]) -> tuple[ExitRecord, ...]:
        """A switch's stored exits with the VNIs of their networks (a network gone: left out)."""
        if not rows:  # most switches: no statement on the document rebuild's path
            return ()
        names = {n for row in rows for n in row["networks"]}
        found = await self.session.execute(select(Network.name, Network.vni).where(Network.name.in_(names)))
        vnis = {name: vni for name, vni in found.all() if vni is not None}
        return tuple(
            ExitRecord(
                row["name"],
                row["port"],
                tuple(sorted(vnis[n] for n in row["networks"] if n in vnis)),
                tuple(row["underlay"]),
            )
            for row in rows
        )

    async def switch_view(self, name: str) -> SwitchView | None:
        """The switch, its ports and the machines cabled to them, or None when it does not exist."""
        sw = await self.session.get(Switch, name)
        if sw is None:
            return None
        rows = (
            await self.session.execute(
                select(
                    SwitchPort.name,
                    SwitchPort.neighbour_switch,
                    SwitchPort.neighbour_port,
                    Nic.machine,
                    SwitchPort.admin_down,
                )
                .outerjoin(Nic, Nic.mac == SwitchPort.neighbour_mac)
                .where(SwitchPort.switch == name)
            )
        ).all()
        ports = tuple(PortRecord(*row) for row in rows)
        machines = await self.machines(r.machine for r in rows if r.machine is not None)
        return SwitchView(
            partition=await self.partition(sw.partition),
            switch=SwitchRecord(
                sw.name,
                sw.role,
                sw.rack,
                sw.asn,
                sw.loopback,
                sw.sonic_version,
                sw.paused,
                await self.exits(sw.exits or []),
            ),
            ports=ports,
            machines=machines,
        )


async def switch_view(session: AsyncSession, name: str) -> SwitchView | None:
    """The switch, its ports and the machines cabled to them, or None when it does not exist."""
    return await Records(session).switch_view(name)
