"""`Store`: every intent in one transaction, touched documents recomputed, watchers woken.

The API calls only this class.  Its layers: `commit.Committer.run` (one intent, its documents, the
audit entry and the NOTIFY in one transaction) → `intents.Intents` (what each write does) → `Store`
(the writes with a transaction of their own: daemons' reports and `apply`; and the reads).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import apply as declared
from fabric.adapters.store import reports, tokens
from fabric.adapters.store.bodies import ApplySpec
from fabric.adapters.store.commit import Intent, Listener, audit_row
from fabric.adapters.store.documents import Change, Touched, refresh
from fabric.adapters.store.engine import Database
from fabric.adapters.store.intents import Intents
from fabric.adapters.store.schema import Audit, Document, Status
from fabric.adapters.store.tokens import Principal
from fabric.core.fleet import fleet_row
from fabric.model.status import FirewallStatus, SwitchStatus


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what it would have done."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer


class Store(Intents):
    """The store's intents (`fabric.adapters.store.intents`) and reads over one `Database`."""

    def __init__(self, db: Database, listener: Listener | None = None, *, batched: bool = True) -> None:
        super().__init__(db, listener, batched=batched)
        self._trusted = tokens.TrustedTokens()

    async def report_status(self, who: Principal, kind: str, status: SwitchStatus | FirewallStatus) -> None:
        """Store a daemon's status apart from desired state; a switch's ports and LLDP neighbours
        update the cabling (and the documents it changes)."""

        async def fn(s: AsyncSession) -> tuple[None, Touched]:
            return None, await reports.record(s, kind, status)

        changes = await self.db.transaction(lambda s: self._status_tx(s, who, kind, status.name, fn))
        self._wake(changes)

    async def _status_tx(
        self, s: AsyncSession, who: Principal, kind: str, name: str, fn: Intent[None]
    ) -> list[Change]:
        _, touched = await fn(s)
        changes = await refresh(s, touched, batched=self.batched)
        if changes:  # heartbeats that change nothing leave no audit entry
            s.add(Audit(at=time.time(), who=who.who, action=f"{kind}.cabling", target=name, detail={}))
            await self._notify(s, changes)
        return changes

    async def apply(self, who: Principal, spec: ApplySpec) -> dict[str, Any]:
        """A whole declaration in one transaction (`fabric.adapters.store.apply`); a dry run rolls it
        back and answers what it would have done.  One audit entry per object created/updated/deleted."""

        async def tx(s: AsyncSession) -> tuple[dict[str, Any], list[Change]]:
            outcome = await declared.apply(s, spec)
            changes = await refresh(s, outcome.touched, batched=self.batched)
            for action, target, detail in outcome.audit:
                await s.execute(audit_row(who, action, target, detail))
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
        self._wake(changes)
        return answer

    # --- reads -------------------------------------------------------------------------------------

    async def document(self, kind: str, name: str) -> Document | None:
        """The stored document row (body empty when removed), or None."""
        async with self.db.read() as s:
            return await s.get(Document, (kind, name))

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal of a valid token (trusted for `tokens.AUTH_TTL` seconds once found valid)."""
        return await self._trusted.authenticate(self.db, secret)

    async def status(self, kind: str, name: str) -> tuple[str, float] | None:
        """The last status `kind`/`name` reported (its JSON) and when, or None."""
        async with self.db.read() as s:
            row = await s.get(Status, (kind, name))
            return (row.body, row.received_at) if row is not None else None

    async def fleet(self, now: float, stale_after: float) -> list[dict[str, Any]]:
        """The fleet view: every switch's and firewall's document against its last status, by kind and
        name (`fabric.core.fleet.fleet_row`); a heartbeat older than `stale_after` seconds is stale."""
        async with self.db.read() as s:
            reported = {
                (r.kind, r.name): (json.loads(r.body), r.received_at)
                for r in (await s.execute(select(Status))).scalars()
            }
            docs = await s.execute(
                select(Document.kind, Document.name, Document.revision, Document.hash)
                .where(Document.kind.in_(("switch", "firewall")))
                .order_by(Document.kind, Document.name)
            )
            rows = []
            for kind, name, revision, digest in docs:
                body, at = reported.get((kind, name), ({}, None))
                rows.append(
                    fleet_row(kind, name, (revision, digest), body, at, now=now, stale_after=stale_after)
                )
            return rows
