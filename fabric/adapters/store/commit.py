"""How one write commits: the intent, the documents it touched, its audit entry and (PostgreSQL) a
NOTIFY in one transaction, so a change and its documents commit together or not at all; watchers are
woken after the commit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Insert, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store import versions
from fabric.adapters.store.documents import Change, Touched, refresh
from fabric.adapters.store.engine import Database
from fabric.adapters.store.schema import Audit
from fabric.adapters.store.tokens import Principal

CHANNEL = "fabric_documents"
R = TypeVar("R")
Intent = Callable[[AsyncSession], Awaitable[tuple[R, Touched]]]
Expect = tuple[str, str, str]  # (resource, name, version) of an If-Match


def precondition(what: str, name: str, if_match: str | None) -> Expect | None:
    """The precondition of a write that carried `If-Match: if_match` (None: unconditional)."""
    return (what, name, if_match) if if_match else None


def audit_row(who: Principal, action: str, target: str, detail: dict[str, Any]) -> Insert:
    """The audit entry of one change, stamped now."""
    return insert(Audit).values(at=time.time(), who=who.who, action=action, target=target, detail=detail)


class Listener(Protocol):
    """Told about every committed document change (the watch hub)."""

    def changed(self, changes: list[Change]) -> None: ...


class Committer:
    """Runs intents over one `Database`, telling `listener` what committed."""

    def __init__(self, db: Database, listener: Listener | None = None, *, batched: bool = True) -> None:
        self.db = db
        self.batched = batched  # documents' records read in batches (False: machine by machine)
        self.listener = listener

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
                await session.execute(audit_row(who, action, target, detail))
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
