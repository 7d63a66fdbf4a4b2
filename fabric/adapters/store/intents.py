"""The store's write intents: what each API write does, as one function run in one transaction.

Each intent builds `fn(session) -> (result, touched)` and hands it to `Committer.run`
(`fabric.adapters.store.commit`: the transaction, the touched documents, the audit entry, the wake-up).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import allocation, hardware, inventory, tokens
from fabric.adapters.store import apply as declared
from fabric.adapters.store.bodies import (
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
from fabric.adapters.store.commit import Committer, precondition
from fabric.adapters.store.documents import Touched
from fabric.adapters.store.errors import NotFound
from fabric.adapters.store.queries import SINGULAR
from fabric.adapters.store.schema import Machine, Switch, SwitchPort
from fabric.adapters.store.tokens import Principal

Updatable = PartitionCreate | ProjectCreate | NetworkCreate | SwitchCreate | MachineCreate
UPDATES, DELETES = declared.UPDATES, declared.DELETES


class Intents(Committer):
    """The write intents, each run by `Committer.run`."""

    _trusted: tokens.TrustedTokens  # given by Store: revoking a token forgets it at once

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
            touched = await allocation.project_ip_documents(s, ip.project) if ip.project else set()
            return {"address": ip.address, "network": ip.network, "project": ip.project}, touched

        return await self.run(who, "ip.acquire", body.network, body.model_dump(mode="json"), fn)

    async def release_ip(self, who: Principal, address: str, if_match: str | None = None) -> dict[str, Any]:
        async def fn(s: AsyncSession) -> tuple[dict[str, Any], Touched]:
            ip = await inventory.release_ip(s, address)
            touched = await allocation.project_ip_documents(s, ip.project) if ip.project else set()
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
            self._trusted.forget()
            return None, set()

        await self.run(who, "token.revoke", token_id, {}, fn)
