"""Composition root of `fabric switch`: adapters from the configuration, wired into the loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fabric.adapters import sdnotify
from fabric.adapters.configdb import SonicDb
from fabric.adapters.frr import FrrAdapter
from fabric.adapters.sonicdb import DbLayout, load_database_config
from fabric.core.guard import GuardLimits
from fabric.model.status import PortStatus, SwitchStatus, SyncResult
from fabric.runtime.config import timing
from fabric.switch.config import SwitchConfig
from fabric.switch.loop import DesiredStateSource, Loop, StatusSink
from fabric.switch.metrics import SwitchMetrics
from fabric.switch.sync import Planner, Syncer


def db_layout(cfg: SwitchConfig) -> DbLayout:
    """CONFIG_DB/APPL_DB/STATE_DB from `database_config.json`, or the configured socket and ids."""
    s = cfg.sonic
    if s.unix_socket is not None:
        return DbLayout.on_socket(
            str(s.unix_socket), config_db=s.config_db, appl_db=s.appl_db, state_db=s.state_db
        )
    if s.database_config is None:
        raise ValueError("sonic: set database_config or unix_socket")
    return load_database_config(s.database_config)


def limits(cfg: SwitchConfig) -> GuardLimits:
    """The guard's limits from the configuration."""
    g = cfg.guard
    return GuardLimits(g.max_port_share, g.max_vrf_share, g.min_ports, g.min_vrfs)


@dataclass
class Observer:
    """Builds a `SwitchStatus`: the sync result, ports (CONFIG_DB PORT + oper state), LLDP, BGP."""

    name: str
    db: SonicDb
    frr: FrrAdapter

    async def __call__(self, result: SyncResult) -> SwitchStatus:
        names = await self.db.ports()
        oper = {p.name: p for p in await self.db.port_oper()}
        ports = [oper.get(n, PortStatus(name=n)) for n in names]
        lldp = await self.db.lldp_neighbours()
        bgp = await asyncio.to_thread(self.frr.bgp_sessions)
        return SwitchStatus(name=self.name, sync=result, ports=ports, lldp=lldp, bgp=bgp)


def build_loop(
    cfg: SwitchConfig,
    source: DesiredStateSource,
    sink: StatusSink,
    planner: Planner,
    *,
    adopt: bool = False,
    force: bool = False,
    metrics: SwitchMetrics | None = None,
) -> tuple[Loop, SonicDb]:
    """The daemon's loop and its database handle (close it when the loop ends)."""
    db = SonicDb(db_layout(cfg))
    frr = FrrAdapter(cfg.frr)
    syncer = Syncer(db, frr, planner, limits(cfg), adopt=adopt, force=force)
    loop = Loop(
        cfg.name,
        source,
        syncer,
        sink,
        observe=Observer(cfg.name, db, frr),
        timing=timing(cfg, cfg.api.watch_wait),
        metrics=metrics,
        notify=sdnotify.notify,
    )
    return loop, db
