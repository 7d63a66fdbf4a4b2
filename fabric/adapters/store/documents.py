"""Desired-state documents in the store: recompute only the touched ones, bump their revision.

`refresh` runs inside the intent's transaction: it locks the touched document rows (sorted, so two
intents never deadlock on documents), rebuilds them from the records that transaction sees, and writes a
new revision only when the hash changed.  A machine that is no longer allocated loses its document.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.schema import Document, DocumentHistory
from fabric.adapters.store.views import Records
from fabric.core.state import build_firewall_state, build_machine_state, build_switch_state
from fabric.model import Document as DocumentModel

KINDS = ("switch", "machine", "firewall")
Touched = set[tuple[str, str]]


@dataclass(frozen=True)
class Change:
    """A document that got a new revision (an empty hash: it was removed)."""

    kind: str
    name: str
    revision: int
    hash: str


async def build(
    session: AsyncSession, kind: str, name: str, records: Records | None = None
) -> DocumentModel | None:
    """The current desired document of `kind`/`name` from the store, or None when it has none.

    `records` is the refresh's loader (machine records read once for all its documents)."""
    records = records or Records(session)
    if kind == "switch":
        view = await records.switch_view(name)
        return build_switch_state(view) if view is not None else None
    record = await records.machine(name)
    if record is None or record.role != kind:
        return None
    return build_machine_state(record) if kind == "machine" else build_firewall_state(record)


async def refresh(session: AsyncSession, touched: Touched, *, batched: bool = True) -> list[Change]:
    """Rebuild each touched document; store and return those whose content changed.

    One statement locks every touched document row (in sorted order, so two intents never deadlock
    on documents); the records are read once for all of them (`Records`); the new revisions and their
    history rows are written in one flush.  `batched=False` reads the records machine by machine for
    each document instead (kept to measure the difference: `bench/commit.py`).
    """
    if not touched:
        return []
    keys = sorted(touched)
    locked = await session.execute(
        select(Document)
        .where(tuple_(Document.kind, Document.name).in_(keys))
        .order_by(Document.kind, Document.name)
        .with_for_update()
    )
    rows = {(r.kind, r.name): r for r in locked.scalars()}
    records = Records(session, batched=batched)
    # Every document is built before anything is written: a write pending in the session would be
    # flushed by the next read, one statement per document.
    built = [(kind, name, await build(session, kind, name, records)) for kind, name in keys]
    changes = []
    for kind, name, doc in built:
        row = rows.get((kind, name))
        revision = (row.revision if row is not None else 0) + 1
        if doc is None:
            # A removed document keeps its row (hash and body empty) so revisions keep growing and a
            # watcher learns of the removal.
            body, digest = "", ""
        else:
            sealed = doc.sealed(revision)
            body, digest = sealed.model_dump_json(by_alias=True), sealed.hash
        if (row is None and doc is None) or (row is not None and row.hash == digest):
            continue
        if row is None:
            row = Document(kind=kind, name=name)
            session.add(row)
        row.revision, row.hash, row.body, row.updated_at = revision, digest, body, time.time()
        session.add(DocumentHistory(kind=kind, name=name, revision=revision, body=body))
        changes.append(Change(kind, name, revision, digest))
    await session.flush()
    return changes


async def history(session: AsyncSession, kind: str, name: str, revision: int) -> dict[str, object] | None:
    """The document as it was at `revision`."""
    row = await session.get(DocumentHistory, (kind, name, revision))
    return json.loads(row.body) if row is not None else None
