"""Watchers of desired-state documents: long-polls held in memory, woken the moment a revision passes.

One commit that changes a document costs one read of that document, however many watchers wait for it:
the hub reads it once and hands the same snapshot to every waiter.  With PostgreSQL, LISTEN on the
store's channel wakes the watchers this replica holds for changes committed by any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fabric.adapters.store.documents import Change

log = logging.getLogger(__name__)
Key = tuple[str, str]


@dataclass(frozen=True)
class Snapshot:
    """A document as stored: revision, hash and JSON body (empty when removed)."""

    revision: int
    hash: str
    body: str
    changed_at: float = 0.0  # monotonic time the change was announced to this process


Loader = Callable[[str, str], Awaitable[Snapshot | None]]


class Hub:
    """Waiters keyed by (kind, name)."""

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._waiters: dict[Key, set[asyncio.Future[Snapshot]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.fanout = 0.0  # seconds from the latest announced change to its last watcher answered
        self._fanout_of = 0.0
        self.parked = 0  # watchers that read the document and now wait for its next revision

    @property
    def watchers(self) -> int:
        """Subscribed watchers (parked, or still reading the document)."""
        return sum(len(w) for w in self._waiters.values())

    def subscribe(self, kind: str, name: str) -> asyncio.Future[Snapshot]:
        """A future resolved with the next snapshot of the document (subscribe before reading)."""
        fut: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((kind, name), set()).add(fut)
        return fut

    def unsubscribe(self, kind: str, name: str, fut: asyncio.Future[Snapshot]) -> None:
        waiters = self._waiters.get((kind, name))
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiters[(kind, name)]

    def changed(self, changes: list[Change]) -> None:
        """Called after a commit (or a NOTIFY): wake the watchers of each changed document."""
        for change in changes:
            self.poke(change.kind, change.name)

    def poke(self, kind: str, name: str) -> None:
        """Reload one document and wake its watchers, if anyone waits for it."""
        if (kind, name) in self._waiters:
            task = asyncio.get_running_loop().create_task(self._wake(kind, name, time.monotonic()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wake(self, kind: str, name: str, changed_at: float) -> None:
        loaded = await self._load(kind, name)
        if loaded is None:
            return
        snapshot = dataclasses.replace(loaded, changed_at=changed_at)
        for fut in self._waiters.pop((kind, name), set()):
            if not fut.done():
                fut.set_result(snapshot)

    def answered(self, snapshot: Snapshot) -> None:
        """A watcher is being answered with `snapshot`: track the fan-out time of the latest change."""
        if not snapshot.changed_at:
            return
        if snapshot.changed_at > self._fanout_of:
            self._fanout_of, self.fanout = snapshot.changed_at, 0.0
        if snapshot.changed_at == self._fanout_of:
            self.fanout = max(self.fanout, time.monotonic() - snapshot.changed_at)


class PgListener:
    """LISTEN on the store's channel (asyncpg) and poke the hub for every notified document."""

    def __init__(self, dsn: str, channel: str, hub: Hub) -> None:
        self.dsn, self.channel, self.hub = dsn, channel, hub
        self._conn: object | None = None

    async def start(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        await conn.add_listener(self.channel, self._notified)
        self._conn = conn

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        kind, _, name = payload.partition("/")
        self.hub.poke(kind, name)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # type: ignore[attr-defined]
