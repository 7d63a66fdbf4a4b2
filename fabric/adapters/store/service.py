"""`Store`: every intent in one transaction, touched documents recomputed, watchers woken.

The API calls only this class.  An intent function returns `(result, touched)`; `Store.run` wraps it
in a transaction that also refreshes the touched documents, writes the audit entry and (PostgreSQL)
sends a NOTIFY, so a change and its documents commit together or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import allocation, hardware, inventory, tokens, versions
from fabric.adapters.store import apply as declared
from fabric.adapters.store.bodies import (
    ApplySpec,
    FirewallAllocate,
    IpAcquire,
    MachineAllocate,
    MachineCreate,
    NetworkCreate,
    PartitionCreate,
    ProjectCreate,
    SwitchCreate,
    TokenCreate,
)
from fabric.adapters.store.documents import Change, Touched, refresh
from fabric.adapters.store.engine import Database
from fabric.adapters.store.errors import NotFound
from fabric.adapters.store.queries import SINGULAR
from fabric.adapters.store.schema import Audit, Document, Machine, Status, Switch, SwitchPort
from fabric.adapters.store.tokens import Principal
from fabric.model.status import FirewallStatus, SwitchStatus

CHANNEL = "fabric_documents"
AUTH_TTL = 1.0  # seconds a token found valid is trusted without reading the store again
AUTH_CACHE_SIZE = 10_000
Updatable = PartitionCreate | ProjectCreate | NetworkCreate | SwitchCreate | MachineCreate
UPDATES, DELETES = declared.UPDATES, declared.DELETES
R = TypeVar("R")
Intent = Callable[[AsyncSession], Awaitable[tuple[R, Touched]]]
Expect = tuple[str, str, str]  # (resource, name, version) of an If-Match


def precondition(what: str, name: str, if_match: str | None) -> Expect | None:
    """The precondition of a write that carried `If-Match: if_match` (None: unconditional)."""
    return (what, name, if_match) if if_match else None


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what it would have done."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer


class Listener(Protocol):
    """Told about every committed document change (the watch hub)."""

    def changed(self, changes: list[Change]) -> None: ...


class Store:
    """The store's intents and reads over one `Database`."""

    def __init__(self, db: Database, listener: Listener | None = None) -> None:
        self.db = db
        self.listener = listener
        self._valid: dict[str, tuple[float, Principal]] = {}  # token digest -> (checked at, principal)

    async def run(
        self,
        who: Principal,
        action: str,
        target: str,
        detail: dict[str, Any],
        fn: Intent[R],
        *,
        expect: Expect | None = None,
        audited: Callable[[R], bool] | None = None,
    ) -> R:
        """Run one intent: its writes, the touched documents, the audit entry, one commit.

        `expect` = (resource, name, version) from `If-Match`: the intent runs only when the object is
        still at that version (checked under its row lock in this transaction), else `Stale`.
        `audited(result)` False leaves no audit entry (an update that changed nothing).
        """

        async def tx(session: AsyncSession) -> tuple[R, list[Change]]:
            if expect is not None:
                await versions.check(session, *expect)
            result, touched = await fn(session)
            changes = await refresh(session, touched)
            if audited is None or audited(result):
                await session.execute(
                    insert(Audit).values(
                        at=time.time(), who=who.who, action=action, target=target, detail=detail
                    )
                )
            await self._notify(session, changes)
            return result, changes

        result, changes = await self.db.transaction(tx)
        if self.listener is not None and changes:
            self.listener.changed(changes)
        return result

    async def _notify(self, session: AsyncSession, changes: list[Change]) -> None:
        if self.db.dialect == "postgresql":
            for c in changes:
                await session.execute(
                    text("SELECT pg_notify(:ch, :p)"), {"ch": CHANNEL, "p": f"{c.kind}/{c.name}"}
                )

    # --- intents -----------------------------------------------------------------------------------

    async def create_partition(self, who: Principal, body: PartitionCreate) -> str:
        async def fn(s: AsyncSession) -> tuple[str, Touched]:
            return (await inventory.create_partition(s, body)).name, set()

        return await self.run(who, "partition.create", body.name, body.model_dump(mode="json"), fn)

    async def create_project(self, who: Principal, body: ProjectCreate) -> str:
        async def fn(s: AsyncSession) -> tuple[str, Touched]:
            return (await inventory.create_project(s, body)).name, set()

        return await self.run(who, "project.create", body.name, body.model_dump(mode="json"), fn)

    async def create_network(self, who: Principal, body: NetworkCreate) -> dict[str, Any]:
        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            net, prefixes = await inventory.create_network(s, body)
            return {"name": net.name, "vni": net.vni, "prefixes": [p.cidr for p in prefixes]}, set()

        return await self.run(who, "network.create", body.name, body.model_dump(mode="json"), fn)

    async def acquire_ip(self, who: Principal, body: IpAcquire) -> dict[str, Any]:
        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            if body.firewall is not None:  # the firewall's own address (its SNAT source there)
                ip, touched = await allocation.acquire_firewall_ip(s, body)
                answer = {"address": ip.address, "network": ip.network, "project": ip.project}
                return answer | {"firewall": body.firewall}, touched
            ip = await inventory.acquire_ip(s, body)
            touched = await allocation.project_leaves(s, ip.project) if ip.project else set()
            return {"address": ip.address, "network": ip.network, "project": ip.project}, touched

        return await self.run(who, "ip.acquire", body.network, body.model_dump(mode="json"), fn)

    async def release_ip(self, who: Principal, address: str, if_match: str | None = None) -> dict[str, Any]:
        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            ip = await inventory.release_ip(s, address)
            touched = await allocation.project_leaves(s, ip.project) if ip.project else set()
            if ip.machine:
                m = await s.get(Machine, ip.machine)
                role = (m.role if m is not None else None) or "machine"
                touched |= await allocation.leaves_of(s, ip.machine) | {(role, ip.machine)}
            return {"address": ip.address, "released": True}, touched

        return await self.run(
            who, "ip.release", address, {}, fn, expect=precondition("ips", address, if_match)
        )

    async def create_switch(self, who: Principal, body: SwitchCreate) -> dict[str, Any]:
        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            sw = await hardware.create_switch(s, body)
            return {"name": sw.name, "asn": sw.asn, "loopback": sw.loopback}, {("switch", sw.name)}

        return await self.run(who, "switch.create", body.name, body.model_dump(mode="json"), fn)

    async def pause_switch(self, who: Principal, name: str, paused: bool) -> dict[str, Any]:
        """Pause (maintenance) or resume a switch: carried to its daemon in the SwitchState."""

        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            sw = await inventory.get(s, Switch, name, "switch")
            sw.paused = paused
            return {"name": name, "paused": paused}, {("switch", name)}

        return await self.run(who, "switch.pause" if paused else "switch.resume", name, {}, fn)

    async def set_port_admin(self, who: Principal, switch: str, port: str, admin: str) -> dict[str, Any]:
        """Set a registered port administratively `down` (or back `up`: as its role makes it); the
        switch's document gets a new revision, which its daemon applies as CONFIG_DB `admin_status`."""

        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            await inventory.get(s, Switch, switch, "switch")
            row = await s.get(SwitchPort, (switch, port))
            if row is None:
                raise NotFound(f"port of switch {switch}", port, "port")
            row.admin_down = admin == "down"
            return {"switch": switch, "port": port, "admin_status": admin}, {("switch", switch)}

        return await self.run(who, "switch.port-admin", f"{switch}/{port}", {"admin_status": admin}, fn)

    async def create_machine(self, who: Principal, body: MachineCreate) -> str:
        async def fn(s: AsyncSession) -> tuple[str, Touched]:
            return (await hardware.create_machine(s, body)).name, set()

        return await self.run(who, "machine.create", body.name, body.model_dump(mode="json"), fn)

    async def allocate_machine(
        self, who: Principal, name: str, body: MachineAllocate, if_match: str | None = None
    ) -> None:
        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            return None, await allocation.allocate_machine(s, name, body)

        await self.run(
            who,
            "machine.allocate",
            name,
            body.model_dump(mode="json"),
            fn,
            expect=precondition("machines", name, if_match),
        )

    async def allocate_firewall(
        self, who: Principal, name: str, body: FirewallAllocate, if_match: str | None = None
    ) -> None:
        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            return None, await allocation.allocate_firewall(s, name, body)

        await self.run(
            who,
            "firewall.allocate",
            name,
            body.model_dump(mode="json"),
            fn,
            expect=precondition("machines", name, if_match),
        )

    async def free(self, who: Principal, name: str, if_match: str | None = None) -> None:
        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            return None, await allocation.free(s, name)

        await self.run(who, "machine.free", name, {}, fn, expect=precondition("machines", name, if_match))

    async def update(
        self, who: Principal, what: str, body: Updatable, if_match: str | None = None
    ) -> list[str]:
        """Bring `what`/`body.name` to `body` (fields it changed; refused whole when one is unsafe)."""

        async def fn(s: AsyncSession) -> tuple[list[str], Touched]:
            return await UPDATES[what](s, body)

        return await self.run(
            who,
            f"{SINGULAR[what]}.update",
            body.name,
            body.model_dump(mode="json"),
            fn,
            expect=precondition(what, body.name, if_match),
            audited=bool,
        )

    async def delete(self, who: Principal, what: str, name: str, if_match: str | None = None) -> None:
        """Delete `what`/`name` when nothing is allocated from or on it (refused otherwise)."""

        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            return None, await DELETES[what](s, name)

        await self.run(
            who, f"{SINGULAR[what]}.delete", name, {}, fn, expect=precondition(what, name, if_match)
        )

    async def report_status(self, who: Principal, kind: str, status: SwitchStatus | FirewallStatus) -> None:
        """Store a daemon's status apart from desired state; a switch's ports and LLDP neighbours
        update the cabling (and the documents it changes)."""

        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            row = await s.get(Status, (kind, status.name))
            body = status.model_dump_json()
            if row is None:
                s.add(Status(kind=kind, name=status.name, body=body, received_at=time.time()))
            else:
                row.body, row.received_at = body, time.time()
            touched: Touched = set()
            if isinstance(status, SwitchStatus):
                if status.ports and await hardware.register_ports(
                    s, status.name, [p.name for p in status.ports]
                ):
                    touched.add(("switch", status.name))
                machines = await hardware.learn_lldp(s, status.name, status.lldp)
                touched |= {(k, m) for m in machines for k in ("machine", "firewall")}
                touched |= {("switch", status.name)} if machines else set()
            return None, touched

        changes = await self.db.transaction(lambda s: self._status_tx(s, who, kind, status.name, fn))
        # Watchers are woken after the commit: woken before, their read could still see the old revision.
        if self.listener is not None and changes:
            self.listener.changed(changes)

    async def _status_tx(
        self, s: AsyncSession, who: Principal, kind: str, name: str, fn: Intent[None]
    ) -> list[Change]:
        _, touched = await fn(s)
        changes = await refresh(s, touched)
        if changes:  # heartbeats that change nothing leave no audit entry
            s.add(Audit(at=time.time(), who=who.who, action=f"{kind}.cabling", target=name, detail={}))
            await self._notify(s, changes)
        return changes

    async def create_token(self, who: Principal, body: TokenCreate) -> tuple[dict[str, Any], str]:
        async def fn(s: AsyncSession) -> tuple[tuple[dict[str, Any], str], Touched]:
            row, secret = await tokens.create(s, body)
            return (
                {"id": row.id, "role": row.role, "subject": row.subject, "expires_at": row.expires_at},
                secret,
            ), set()

        return await self.run(who, "token.create", body.role, body.model_dump(mode="json"), fn)

    async def revoke_token(self, who: Principal, token_id: str) -> None:
        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            await tokens.revoke(s, token_id)
            self._valid.clear()
            return None, set()

        await self.run(who, "token.revoke", token_id, {}, fn)

    async def apply(self, who: Principal, spec: ApplySpec) -> dict[str, Any]:
        """A whole declaration in one transaction (`fabric.adapters.store.apply`); a dry run rolls it
        back and answers what it would have done.  One audit entry per object created/updated/deleted."""

        async def tx(s: AsyncSession) -> tuple[dict[str, Any], list[Change]]:
            outcome = await declared.apply(s, spec)
            changes = await refresh(s, outcome.touched)
            for action, target, detail in outcome.audit:
                await s.execute(
                    insert(Audit).values(
                        at=time.time(), who=who.who, action=action, target=target, detail=detail
                    )
                )
            answer = {
                "dry_run": spec.dry_run,
                "results": outcome.results,
                "documents": [f"{c.kind}/{c.name}" for c in changes],
            }
            if spec.dry_run:
                raise _DryRun(answer)
            await self._notify(s, changes)
            return answer, changes

        try:
            answer, changes = await self.db.transaction(tx)
        except _DryRun as rolled_back:
            return rolled_back.answer
        if self.listener is not None and changes:
            self.listener.changed(changes)
        return answer

    # --- reads -------------------------------------------------------------------------------------

    async def document(self, kind: str, name: str) -> Document | None:
        """The stored document row (body empty when removed), or None."""
        async with self.db.read() as s:
            return await s.get(Document, (kind, name))

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal of a valid token.  A token found valid is remembered for `AUTH_TTL` seconds
        (a database read less per request); a revocation on another replica, or an expiry, takes
        effect within that time (on this replica at once)."""
        key, now = tokens.digest(secret), time.monotonic()
        hit = self._valid.get(key)
        if hit is not None and now - hit[0] < AUTH_TTL:
            return hit[1]
        async with self.db.read() as s:
            principal = await tokens.authenticate(s, secret, time.time())
        if principal is not None:
            if len(self._valid) > AUTH_CACHE_SIZE:
                self._valid.clear()
            self._valid[key] = (now, principal)
        return principal

    async def status(self, kind: str, name: str) -> tuple[str, float] | None:
        """The last status `kind`/`name` reported (its JSON) and when, or None."""
        async with self.db.read() as s:
            row = await s.get(Status, (kind, name))
            return (row.body, row.received_at) if row is not None else None

    async def statuses(self) -> dict[tuple[str, str], tuple[dict[str, Any], float]]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Status))).scalars().all()
            return {(r.kind, r.name): (json.loads(r.body), r.received_at) for r in rows}
