"""`Store`: every intent in one transaction, touched documents recomputed, watchers woken.

The API calls only this class; its intents are written in `fabric.adapters.store.intents`.  An intent
function returns `(result, touched)`; `Store.run` wraps it in a transaction that also refreshes the
touched documents, writes the audit entry and (PostgreSQL) sends a NOTIFY, so a change and its
documents commit together or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Insert, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import apply as declared
from fabric.adapters.store import reports, tokens, versions
from fabric.adapters.store.bodies import ApplySpec
from fabric.adapters.store.documents import Change, Touched, refresh
from fabric.adapters.store.engine import Database
from fabric.adapters.store.intents import Expect, Intent, Intents, R
from fabric.adapters.store.schema import Audit, Document, Status
from fabric.adapters.store.tokens import Principal
from fabric.model.status import FirewallStatus, SwitchStatus

CHANNEL = "fabric_documents"


def _audit(who: Principal, action: str, target: str, detail: dict[str, Any]) -> Insert:
    """The audit entry of one change, stamped now."""
    return insert(Audit).values(at=time.time(), who=who.who, action=action, target=target, detail=detail)


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what it would have done."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer


class Listener(Protocol):
    """Told about every committed document change (the watch hub)."""

    def changed(self, changes: list[Change]) -> None: ...


class Store(Intents):
    """The store's intents (`fabric.adapters.store.intents`) and reads over one `Database`."""

    def __init__(self, db: Database, listener: Listener | None = None, *, batched: bool = True) -> None:
        self.db = db
        self.batched = batched  # documents' records read in batches (False: machine by machine)
        self.listener = listener
        self._trusted = tokens.TrustedTokens()

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
            changes = await refresh(session, touched, batched=self.batched)
            if audited is None or audited(result):
                await session.execute(_audit(who, action, target, detail))
            await self._notify(session, changes)
            return result, changes

        result, changes = await self.db.transaction(tx)
        self._wake(changes)
        return result

    def _wake(self, changes: list[Change]) -> None:
        """Tell the listener what committed.  Only after the commit: woken before, a watcher's read
        could still see the old revision."""
        if self.listener is not None and changes:
            self.listener.changed(changes)

    async def _notify(self, session: AsyncSession, changes: list[Change]) -> None:
        if self.db.dialect == "postgresql":
            for c in changes:
                await session.execute(
                    text("SELECT pg_notify(:ch, :p)"), {"ch": CHANNEL, "p": f"{c.kind}/{c.name}"}
                )

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
                await s.execute(_audit(who, action, target, detail))
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

    async def statuses(self) -> dict[tuple[str, str], tuple[dict[str, Any], float]]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Status))).scalars().all()
            return {(r.kind, r.name): (json.loads(r.body), r.received_at) for r in rows}
