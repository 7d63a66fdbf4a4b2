"""What daemons report: kept apart from desired state; a switch's report also updates the cabling."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import hardware
from fabric.adapters.store.documents import Touched
from fabric.adapters.store.schema import Status
from fabric.model.status import FirewallStatus, SwitchStatus


async def record(session: AsyncSession, kind: str, status: SwitchStatus | FirewallStatus) -> Touched:
    """Store `status` as the last report of `kind`/`status.name`.  A switch's ports are registered and
    its LLDP neighbours learned; returns the documents that cabling change touched."""
    row = await session.get(Status, (kind, status.name))
    body = status.model_dump_json()
    if row is None:
        session.add(Status(kind=kind, name=status.name, body=body, received_at=time.time()))
    else:
        row.body, row.received_at = body, time.time()
    touched: Touched = set()
    if isinstance(status, SwitchStatus):
        if status.ports and await hardware.register_ports(
            session, status.name, [p.name for p in status.ports]
        ):
            touched.add(("switch", status.name))
        machines = await hardware.learn_lldp(session, status.name, status.lldp)
        touched |= {(k, m) for m in machines for k in ("machine", "firewall")}
        touched |= {("switch", status.name)} if machines else set()
    return touched
