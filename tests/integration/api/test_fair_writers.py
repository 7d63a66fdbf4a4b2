"""SQLite writers of one API process are served in arrival order (`Database.transaction`'s writer
queue), whatever SQLite's busy handler would pick."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.engine import Database
from fabric.adapters.store.schema import Audit


async def test_writers_commit_in_the_order_they_asked(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/fabric.db")
    await db.migrate()
    committed: list[int] = []

    def writer(i: int):  # type: ignore[no-untyped-def]
        async def tx(s: AsyncSession) -> None:
            await s.execute(insert(Audit).values(at=float(i), who="test", action="write", target=str(i)))
            await asyncio.sleep(0)  # let every other writer queue up meanwhile
            committed.append(i)

        return db.transaction(tx)

    try:
        tasks = []
        for i in range(40):
            tasks.append(asyncio.create_task(writer(i)))
            await asyncio.sleep(0)  # each asks in turn
        await asyncio.gather(*tasks)
    finally:
        await db.close()
    assert committed == list(range(40))
