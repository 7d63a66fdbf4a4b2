"""SONiC's Redis databases through redis.asyncio: read tables, write plan phases, wait on STATE_DB.

Conventions of SONiC kept here and nowhere else:
- a key is ``TABLE<sep>key`` (``|`` in CONFIG_DB and STATE_DB, ``:`` in APPL_DB); the key part may itself
  contain the separator (``VLAN_MEMBER|Vlan4000|Ethernet12``);
- a key without fields holds the placeholder field ``NULL`` = ``NULL`` (Redis has no empty hash); it is
  read as Redis holds it (`Observed.from_configdb` hides it and records where it was), written when a
  `SetKey` has no fields and removed only when its `drop` names it (`fabric.adapters.configdb_script`);
- a list field is stored as ``name@`` = ``a,b,c``; it is read and written under its raw name ``name@``
  (`list_field` builds one), so what the planner compares is exactly what Redis holds.

Every Redis failure becomes a retryable `ApplyError`.  A phase is one atomic server-side script call
(`fabric.adapters.configdb_script`): one command per phase instead of one per key (or a MULTI/EXEC of
one per key) keeps the client's per-command cost out of the apply; the command is encoded there (RESP)
and sent with one write, because redis-py's own argument packing cost more than Redis's work.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError

from fabric.adapters.configdb_script import APPLY_SCRIPT, apply_command
from fabric.adapters.sonicdb import Database, DbLayout
from fabric.core.observed import PLACEHOLDER
from fabric.core.ops import Phase, StateWait
from fabric.core.tables import READ_TABLES, Tables
from fabric.errors import ApplyError
from fabric.model.status import LldpNeighbour, PortStatus

T = TypeVar("T")

# Tables the plan may write, plus those it reads for context (the tunnel's name, loopback, mode).


def list_field(name: str, values: Sequence[str]) -> tuple[str, str]:
    """A SONiC list field: (``name@``, ``a,b``)."""
    return f"{name}@", ",".join(values)


def from_raw(raw: dict[str, str]) -> dict[str, str]:
    """A Redis hash as fields: the ``NULL`` placeholder dropped."""
    return {k: v for k, v in raw.items() if k != PLACEHOLDER}


def _client(db: Database) -> aioredis.Redis:
    # No retries inside redis-py: retry and backoff belong to the loop, which re-plans from what
    # Redis holds (a blind resend could race with someone else's change).
    # No socket timeouts inside redis-py either: redis-py 8 implements them with asyncio.wait_for,
    # which on Python < 3.12 can swallow a cancellation (CPython gh-86296) -- the loop's deadline then
    # does not cancel and a cancelled task runs on forever.  `SonicDb._call` bounds every call with
    # asyncio.timeout instead.
    options: dict[str, Any] = {
        "db": db.id,
        "decode_responses": True,
        "retry": Retry(NoBackoff(), 0),
        "socket_timeout": None,
        "socket_connect_timeout": None,
    }
    if db.unix_socket:
        return aioredis.Redis(unix_socket_path=db.unix_socket, **options)
    return aioredis.Redis(host=db.host, port=db.port, **options)


class SonicDb:
    """CONFIG_DB (read/write), STATE_DB (wait) and APPL_DB (observe) of one switch."""

    def __init__(self, layout: DbLayout, *, poll_interval: float = 0.01, op_timeout: float = 10.0) -> None:
        self.layout = layout
        self.config = _client(layout.config)
        self.state = _client(layout.state)
        self.appl = _client(layout.appl)
        self.poll_interval = poll_interval
        self.op_timeout = op_timeout
        self.apply_sha = hashlib.sha1(APPLY_SCRIPT.encode()).hexdigest()

    async def close(self) -> None:
        """Close the connection pools."""
        for client in (self.config, self.state, self.appl):
            await client.aclose()

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis exchange within `op_timeout`; every failure is a retryable `ApplyError`."""
        try:
            async with asyncio.timeout(self.op_timeout):
                return await fn()
        except TimeoutError as exc:
            raise ApplyError(
                f"redis: no answer within {self.op_timeout:g}s", retryable=True, phase=what
            ) from exc
        except (RedisError, OSError) as exc:
            raise ApplyError(f"redis: {exc}", retryable=True, phase=what) from exc

    # -- reading -------------------------------------------------------------------------------
    async def read_tables(self, tables: Iterable[str] = READ_TABLES) -> Tables:
        """Every key of `tables` in CONFIG_DB as Redis holds it (``NULL`` placeholders included).

        SCAN per table, then one pipeline of HGETALLs.
        """
        return await self._call(
            "configdb:read", lambda: _read(self.config, self.layout.config, tables, raw=True)
        )

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
        """Write `phase.ops` as one atomic script call (all of it or nothing)."""
        if not phase.ops:
            return
        command = apply_command(self.apply_sha, phase.ops, self.layout.config.separator)

        async def write() -> None:
            try:
                await self._send(command)
            except NoScriptError:  # a restarted (or flushed) Redis: load the script, send once more
                await self.config.script_load(APPLY_SCRIPT)
                await self._send(command)

        await self._call(f"configdb:{phase.name}", write)

    async def _send(self, command: bytes) -> Any:
        """Send one encoded command on a pooled CONFIG_DB connection and read its reply."""
        pool = self.config.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(command, check_health=False)
            return await conn.read_response()
        except ResponseError:
            raise  # Redis answered: the connection is in step
        except BaseException:
            # Failed or cancelled (the deadline) before the reply was read: it may still arrive, so the
            # connection must never carry another command.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    async def wait_state(self, waits: Sequence[StateWait], *, phase: str = "") -> None:
        """Poll STATE_DB until every wait holds; the caller's deadline (asyncio.timeout) bounds it.

        Polls with one pipelined EXISTS per round, starting at `poll_interval` and growing by half each
        round to 0.1 s (a round is one cheap round trip; SONiC's managers usually answer within tens of ms).
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
            interval = min(interval * 1.5, 0.1)


async def _read(client: aioredis.Redis, db: Database, tables: Iterable[str], *, raw: bool = False) -> Tables:
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
    for key, fields in zip(keys, values, strict=True):
        table, _, rest = key.partition(sep)
        if fields:  # a key deleted between SCAN and HGETALL is simply absent
            out[table][rest] = fields if raw else from_raw(fields)
    return out


def _escape(pattern: str) -> str:
    """Escape glob characters so a table name matches literally in SCAN MATCH."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in pattern)
