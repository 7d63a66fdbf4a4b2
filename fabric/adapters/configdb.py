"""SONiC's Redis databases through redis.asyncio: read tables, write plan phases, wait on STATE_DB.

Conventions of SONiC kept here and nowhere else:
- a key is ``TABLE<sep>key`` (``|`` in CONFIG_DB and STATE_DB, ``:`` in APPL_DB); the key part may itself
  contain the separator (``VLAN_MEMBER|Vlan4000|Ethernet12``);
- a key without fields holds the placeholder field ``NULL`` = ``NULL`` (Redis has no empty hash); it is
  hidden when reading and written when a `SetKey` has no fields;
- a list field is stored as ``name@`` = ``a,b,c``; it is read and written under its raw name ``name@``
  (`list_field` builds one), so what the planner compares is exactly what Redis holds.

Every Redis failure becomes a retryable `ApplyError`.  A phase is one MULTI/EXEC transaction: if the
connection dies before EXEC, Redis discards everything queued, so no key of the phase is half-written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from fabric.adapters.sonicdb import Database, DbLayout
from fabric.core.configdb import TABLE_ORDER
from fabric.core.ops import DelKey, Phase, SetKey, StateWait
from fabric.errors import ApplyError
from fabric.model.status import LldpNeighbour, PortStatus

Tables = dict[str, dict[str, dict[str, str]]]
"""`{TABLE: {key: {field: value}}}`, the shape of CONFIG_DB as data."""

NULL = "NULL"
T = TypeVar("T")

# Tables the plan may write, plus those it reads for context (the tunnel's name, loopback, mode).
OWNED_TABLES = TABLE_ORDER
CONTEXT_TABLES = ("VXLAN_TUNNEL", "VXLAN_EVPN_NVO", "LOOPBACK_INTERFACE", "DEVICE_METADATA")


def list_field(name: str, values: Sequence[str]) -> tuple[str, str]:
    """A SONiC list field: (``name@``, ``a,b``)."""
    return f"{name}@", ",".join(values)


def from_raw(raw: dict[str, str]) -> dict[str, str]:
    """A Redis hash as fields: the ``NULL`` placeholder dropped."""
    return {k: v for k, v in raw.items() if k != NULL}


def _client(db: Database) -> aioredis.Redis:
    # No retries inside redis-py: retry and backoff belong to the loop, which re-plans from what
    # Redis holds (a blind resend could race with someone else's change).
    no_retry = Retry(NoBackoff(), 0)
    if db.unix_socket:
        return aioredis.Redis(
            unix_socket_path=db.unix_socket, db=db.id, decode_responses=True, retry=no_retry
        )
    return aioredis.Redis(host=db.host, port=db.port, db=db.id, decode_responses=True, retry=no_retry)


class SonicDb:
    """CONFIG_DB (read/write), STATE_DB (wait) and APPL_DB (observe) of one switch."""

    def __init__(self, layout: DbLayout, *, poll_interval: float = 0.02) -> None:
        self.layout = layout
        self.config = _client(layout.config)
        self.state = _client(layout.state)
        self.appl = _client(layout.appl)
        self.poll_interval = poll_interval

    async def close(self) -> None:
        """Close the connection pools."""
        for client in (self.config, self.state, self.appl):
            await client.aclose()

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            raise ApplyError(f"redis: {exc}", retryable=True, phase=what) from exc

    # -- reading -------------------------------------------------------------------------------
    async def read_tables(self, tables: Iterable[str] = OWNED_TABLES + CONTEXT_TABLES) -> Tables:
        """Every key of `tables` in CONFIG_DB: SCAN per table, then one pipeline of HGETALLs."""
        return await self._call("configdb:read", lambda: _read(self.config, self.layout.config, tables))

    async def read_appl(self, table: str) -> Tables:
        """One APPL_DB table (e.g. ``LLDP_ENTRY_TABLE``), keyed without the table prefix."""
        return await self._call("appldb:read", lambda: _read(self.appl, self.layout.appl, [table]))

    async def ports(self) -> list[str]:
        """Names of the switch's ports (CONFIG_DB ``PORT``), in natural order."""
        from fabric.model.names import natural_key

        tables = await self.read_tables(["PORT"])
        return sorted(tables.get("PORT", {}), key=natural_key)

    async def lldp_neighbours(self) -> list[LldpNeighbour]:
        """LLDP neighbours from APPL_DB ``LLDP_ENTRY_TABLE`` (read fresh, so new ports appear)."""
        from fabric.model.names import natural_key

        entries = (await self.read_appl("LLDP_ENTRY_TABLE")).get("LLDP_ENTRY_TABLE", {})
        return [
            LldpNeighbour(
                port=port,
                chassis_id=f.get("lldp_rem_chassis_id", "")[:128],
                port_id=f.get("lldp_rem_port_id", "")[:128],
                sys_name=f.get("lldp_rem_sys_name", "")[:255],
            )
            for port, f in sorted(entries.items(), key=lambda kv: natural_key(kv[0]))
        ]

    async def port_oper(self) -> list[PortStatus]:
        """Port oper state from APPL_DB ``PORT_TABLE`` (``oper_status`` up/down)."""
        from fabric.model.names import natural_key

        entries = (await self.read_appl("PORT_TABLE")).get("PORT_TABLE", {})
        out = []
        for port, f in sorted(entries.items(), key=lambda kv: natural_key(kv[0])):
            oper = f.get("oper_status", "unknown")
            out.append(PortStatus(name=port, oper=oper if oper in ("up", "down") else "unknown"))
        return out

    # -- writing -------------------------------------------------------------------------------
    async def apply_ops(self, phase: Phase) -> None:
        """Write `phase.ops` as one MULTI/EXEC transaction (all of it or nothing)."""
        if not phase.ops:
            return
        sep = self.layout.config.separator

        async def write() -> None:
            async with self.config.pipeline(transaction=True) as pipe:
                for op in phase.ops:
                    _queue(pipe, op, sep)
                await pipe.execute()

        await self._call(f"configdb:{phase.name}", write)

    async def wait_state(self, waits: Sequence[StateWait], *, phase: str = "") -> None:
        """Poll STATE_DB until every wait holds; the caller's deadline (asyncio.timeout) bounds it.

        Polls with one pipelined EXISTS per round, starting at `poll_interval` and growing to 0.2 s.
        """
        if not waits:
            return
        sep = self.layout.state.separator
        keys = [f"{w.table}{sep}{w.key}" for w in waits]
        interval = self.poll_interval
        while True:

            async def probe() -> list[Any]:
                async with self.state.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.exists(key)
                    return list(await pipe.execute())

            found = await self._call(f"state-wait:{phase}", probe)
            if all(bool(n) == w.present for n, w in zip(found, waits, strict=True)):
                return
            await asyncio.sleep(interval)
            interval = min(interval * 2, 0.2)

    async def pending_waits(self, waits: Sequence[StateWait]) -> list[StateWait]:
        """The waits that do not hold right now (for the error message after a deadline)."""
        sep = self.layout.state.separator

        async def probe() -> list[Any]:
            async with self.state.pipeline(transaction=False) as pipe:
                for w in waits:
                    pipe.exists(f"{w.table}{sep}{w.key}")
                return list(await pipe.execute())

        found = await self._call("state-wait", probe)
        return [w for n, w in zip(found, waits, strict=True) if bool(n) != w.present]


def _queue(pipe: Any, op: SetKey | DelKey, sep: str) -> None:
    key = f"{op.table}{sep}{op.key}"
    if isinstance(op, DelKey):
        pipe.delete(key)
        return
    fields = dict(op.fields) or {NULL: NULL}
    pipe.hset(key, mapping=fields)
    drop = [f for f in op.drop if f not in fields]
    if op.fields:
        drop.append(NULL)  # a key that gains fields loses its placeholder
    if drop:
        pipe.hdel(key, *drop)


async def _read(client: aioredis.Redis, db: Database, tables: Iterable[str]) -> Tables:
    sep = db.separator
    keys: list[str] = []
    for table in tables:
        async for key in client.scan_iter(match=f"{_escape(table)}{sep}*", count=1000):
            keys.append(key)
    out: Tables = {t: {} for t in tables}
    if not keys:
        return out
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        values = await pipe.execute()
    for key, raw in zip(keys, values, strict=True):
        table, _, rest = key.partition(sep)
        if raw:  # a key deleted between SCAN and HGETALL is simply absent
            out[table][rest] = from_raw(raw)
    return out


def _escape(pattern: str) -> str:
    """Escape glob characters so a table name matches literally in SCAN MATCH."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in pattern)
