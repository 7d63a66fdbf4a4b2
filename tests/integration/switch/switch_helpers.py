"""Helpers of the switch daemon's tests against real Redis (CONFIG_DB 4, APPL_DB 0, STATE_DB 6) and FRR.

Two test-only stand-ins, because the real ones cannot run here:
- `StateFiller` plays SONiC's managers (vrfmgrd, vlanmgrd, intfmgrd): it mirrors CONFIG_DB `VRF`,
  `VLAN`, `INTERFACE` and `VLAN_INTERFACE` keys into STATE_DB `VRF_TABLE`, `VLAN_TABLE` and
  `INTERFACE_TABLE` by polling;
- `table_planner` plans a single-phase change from desired tables, standing in for the renderer's
  planner (issue "switch and machine rendering") until it lands on main.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis
import redis.asyncio

from fabric.adapters.configdb import SonicDb
from fabric.adapters.frr import FrrAdapter
from fabric.core.guard import GuardLimits
from fabric.core.ops import DelKey, Phase, Plan, SetKey, StateWait
from fabric.core.ownership import Ownership
from fabric.core.tables import Tables
from fabric.model.switch import SwitchState
from fabric.runtime.config import FrrSettings
from fabric.switch.sync import Syncer
from lab.rig import FrrInstance, RedisInstance, wrap

CONFIG_DB, APPL_DB, STATE_DB = 4, 0, 6
MIRROR = {
    "VRF": "VRF_TABLE",
    "VLAN": "VLAN_TABLE",
    "INTERFACE": "INTERFACE_TABLE",
    "VLAN_INTERFACE": "INTERFACE_TABLE",  # intfmgrd: a VLAN's interface shows in INTERFACE_TABLE too
}


def frr_config(frr: FrrInstance) -> FrrSettings:
    """How the daemon reaches a rig FRR instance: its namespace and hostname as the exec prefix."""
    d = str(frr.dir)
    return FrrSettings(
        exec_prefix=wrap([], netns=frr.ns.name, hostname=frr.hostname),
        config_dir=d,
        vty_socket_dir=d,
        rundir=d,
        bindir="/usr/bin",
        timeout=60,
    )


def write_tables(client: redis.Redis, tables: Tables) -> None:
    """Load tables into CONFIG_DB the way SONiC stores them (NULL placeholder for empty keys)."""
    for table, keys in tables.items():
        for key, fields in keys.items():
            client.hset(f"{table}|{key}", mapping=dict(fields) or {"NULL": "NULL"})


def dump(client: redis.Redis) -> dict[str, dict[str, str]]:
    """Every key of the database with its hash."""
    return {k: client.hgetall(k) for k in sorted(client.keys("*"))}


class StateFiller:
    """Test-only stand-in for SONiC's managers: mirrors CONFIG_DB keys into STATE_DB, asynchronously.

    It stops on a flag, not by cancellation alone: redis-py 8's socket timeouts (asyncio.wait_for)
    can swallow a cancellation on Python < 3.12, so its clients run without them.
    """

    def __init__(self, server: RedisInstance) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None
        self.running = True

    def _client(self, db: int) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(
            unix_socket_path=str(self.server.socket_path),
            db=db,
            decode_responses=True,
            socket_timeout=None,
            socket_connect_timeout=None,
        )

    async def _run(self) -> None:
        cfg, state = self._client(CONFIG_DB), self._client(STATE_DB)
        try:
            while self.running:
                await self._mirror(cfg, state)
                # The stand-in manager's own poll period (it rescans CONFIG_DB): the asynchrony tests
                # rely on, like SONiC's managers lagging CONFIG_DB; tests wait on STATE_DB, not on this.
                await asyncio.sleep(0.02)
        finally:
            await cfg.aclose()
            await state.aclose()

    async def _mirror(self, cfg: redis.asyncio.Redis, state: redis.asyncio.Redis) -> None:
        want = set()
        for table, state_table in MIRROR.items():
            async for key in cfg.scan_iter(match=f"{table}|*"):
                rest = key.split("|", 1)[1]
                if "|" not in rest:
                    want.add(f"{state_table}|{rest}")
        have = set()
        for state_table in set(MIRROR.values()):
            have |= {k async for k in state.scan_iter(match=f"{state_table}|*")}
        for key in want - have:
            await state.hset(key, mapping={"state": "ok"})
        for key in have - want:
            await state.delete(key)

    async def __aenter__(self) -> StateFiller:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.running = False
        try:
            async with asyncio.timeout(5):
                await self.task
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def state_filler(server: RedisInstance) -> StateFiller:
    """`async with state_filler(server):` mirrors CONFIG_DB into STATE_DB while the block runs."""
    return StateFiller(server)


def table_planner(desired: Tables) -> Any:
    """Test stand-in for the renderer's planner: set what differs, delete owned keys not desired."""

    def planner(state: SwitchState, tables: Tables, last_frr: str | None, frr_version: str | None) -> Plan:
        dels: list[DelKey] = []
        sets: list[SetKey] = []
        rules = Ownership.of(state)
        waits: list[StateWait] = []
        for table, keys in tables.items():
            for key in keys:
                base = table == "PORT" or (table == "VLAN" and key == f"Vlan{state.pxe_vlan}")
                if rules.owns(table, key) and not base and key not in desired.get(table, {}):
                    dels.append(DelKey(table, key))
        for table, keys in desired.items():
            for key, fields in keys.items():
                have = tables.get(table, {}).get(key)
                if have != fields:
                    drop = tuple(sorted(set(have or {}) - set(fields)))
                    sets.append(SetKey(table, key, dict(fields), drop))
                    if table in MIRROR:
                        waits.append(StateWait(MIRROR[table], key))
        phases = [Phase("remove", tuple(dels)), Phase("add", tuple(sets), tuple(waits))]
        return Plan(tuple(p for p in phases if p.ops))

    return planner


def syncer(db: SonicDb, frr: FrrInstance, desired: Tables, **kw: Any) -> Syncer:
    return Syncer(db, FrrAdapter(frr_config(frr)), table_planner(desired), GuardLimits(), **kw)
